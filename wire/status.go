package wire

import (
	"encoding/binary"

	"github.com/plexus-ipc/plexus"
)

// AppendStatusBody encodes the non-OK status body: message then details.
func AppendStatusBody(b []byte, st *plexus.Status) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.Message)))
	b = append(b, st.Message...)
	return append(b, st.Details...)
}

// errStatusBody is pre-declared so that rejecting a body does not allocate.
var errStatusBody = plexus.Errorf(plexus.ProtocolViolation, "status body truncated")

// ParseStatusBody decodes a non-OK status body from the peer; the message
// length is checked against the body before anything is copied.
func ParseStatusBody(code plexus.Code, b []byte) (*plexus.Status, error) {
	if len(b) < 4 {
		return nil, errStatusBody
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, errStatusBody
	}
	st := &plexus.Status{Code: code, Message: string(b[4 : 4+n])}
	if rest := b[4+n:]; len(rest) > 0 {
		st.Details = append([]byte(nil), rest...)
	}
	return st, nil
}
