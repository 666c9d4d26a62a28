package benchsvc

import (
	"context"
	"encoding/binary"
	"io"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Sink reads a client stream to its end and answers with the number of
// messages it read, as a little-endian uint64.
func Sink(_ context.Context, st *session.Stream) error {
	var n uint64
	var msg plexus.Raw
	for {
		err := st.Recv(&msg)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	var out [8]byte
	binary.LittleEndian.PutUint64(out[:], n)
	return st.Send(plexus.Raw(out[:]))
}

// Size answers a unary call with its request's length, as a little-endian
// uint64, without reading the request.
func Size(_ context.Context, req []byte) (plexus.Marshaler, error) {
	var out [8]byte
	binary.LittleEndian.PutUint64(out[:], uint64(len(req)))
	return plexus.Raw(out[:]), nil
}
