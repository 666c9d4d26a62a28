package genrt

import (
	"io"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/session"
)

// Message is a generated message type (the tuple of a method's arguments,
// results, or one stream message): it decodes itself from a Decoder.
type Message[T any] interface {
	*T
	DecodePlexus(*codec.Decoder) error
}

// Inbox receives one stream message into M. It keeps a decoding error for
// the generated code instead of returning it to the session, so that the
// handler's side can answer INVALID_ARGUMENT. Values are copies: a stream
// message's payload is released when Recv returns.
type Inbox[T any, PT Message[T]] struct {
	M   T
	err error
}

// UnmarshalMsg decodes b into M (plexus.Unmarshaler).
func (in *Inbox[T, PT]) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, codec.Limits{})
	d.CopyBytes(true)
	if in.err = PT(&in.M).DecodePlexus(&d); in.err == nil {
		in.err = d.Finish()
	}
	return nil, nil
}

// RecvCaller receives a message on the caller's side of a stream; a
// message that does not decode abandons the call (INTERNAL, naming
// method).
func RecvCaller[T any, PT Message[T]](st *session.Stream, in *Inbox[T, PT], method string) error {
	*in = Inbox[T, PT]{}
	if err := st.Recv(in); err != nil {
		if err == io.EOF {
			return err
		}
		return codec.DecodeError(err)
	}
	if in.err != nil {
		st.Close()
		return plexus.WithCause(plexus.Internal, in.err, method+": "+in.err.Error())
	}
	return nil
}

// RecvHandler receives a message on the handler's side of a stream; a
// message that does not decode fails the call with INVALID_ARGUMENT.
func RecvHandler[T any, PT Message[T]](st *session.Stream, in *Inbox[T, PT], method string) error {
	*in = Inbox[T, PT]{}
	if err := st.Recv(in); err != nil {
		return err
	}
	if in.err != nil {
		return plexus.WithCause(plexus.InvalidArgument, in.err, method+": "+in.err.Error())
	}
	return nil
}
