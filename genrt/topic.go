package genrt

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
)

// Topic is a typed topic of the bus (package bus; bus/buslink in plugins):
// what `plexus gen` writes for a message type marked "//plexus:topic
// <pattern>". Type is the signature hash of the type and the pattern, so
// that a publisher and a subscriber built from different versions of the
// message meet VERSION_MISMATCH on the bus (see bus's typed messages)
// instead of decoding each other's bytes wrongly.
//
// A Topic is a value: use it from any goroutine.
type Topic[T any, P interface {
	*T
	plexus.Marshaler
	plexus.Unmarshaler
}] struct {
	Pattern string
	Type    uint64
}

// Message encodes v as a typed message on subject, which the topic's
// pattern must match; publish it with bus.Bus.Publish or buslink's
// Client.Publish.
func (t Topic[T, P]) Message(subject string, v P) (*bus.Message, error) {
	if err := bus.ValidateSubject(subject); err != nil {
		return nil, err
	}
	if !bus.Match(t.Pattern, subject) {
		return nil, plexus.Errorf(plexus.InvalidArgument, "topic %s: subject %q is not in it", t.Pattern, subject)
	}
	data, err := v.MarshalMsg(make([]byte, 0, v.Msgsize()))
	if err != nil {
		return nil, plexus.WithCause(plexus.Internal, err, "topic "+t.Pattern+": encoding: "+err.Error())
	}
	return &bus.Message{Subject: subject, Data: data, Type: t.Type}, nil
}

// Options returns o for a typed subscription of the topic: the bus
// refuses it if a subject it matches carries another type.
func (t Topic[T, P]) Options(o bus.SubOptions) bus.SubOptions {
	o.Type = t.Type
	return o
}

// Decode decodes a delivery's data as the topic's type. The result does
// not share data's memory.
func (t Topic[T, P]) Decode(data []byte) (P, error) {
	v := P(new(T))
	rest, err := v.UnmarshalMsg(data)
	if err == nil && len(rest) != 0 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "topic %s: %d bytes after the message", t.Pattern, len(rest))
	}
	if err != nil {
		return nil, plexus.WithCause(plexus.InvalidArgument, err, "topic "+t.Pattern+": decoding: "+err.Error())
	}
	return v, nil
}
