package plexus

import (
	"context"
	"hash/fnv"
)

// Marshaler is a message that can encode itself. The method set is the
// one msgp generates, so msgp types are messages as they are.
type Marshaler interface {
	// Msgsize is an upper bound of the encoded size, used to size the
	// buffer (a slot of the segment on shared memory) before encoding.
	Msgsize() int
	// MarshalMsg appends the encoding to b and returns the result.
	MarshalMsg(b []byte) ([]byte, error)
}

// Unmarshaler is a message that can decode itself from a payload. The
// payload is only valid during the call unless the message also implements
// Retainer.
type Unmarshaler interface {
	UnmarshalMsg(b []byte) ([]byte, error)
}

// Retainer is implemented by messages whose decoded form keeps views into
// the received payload (zero-copy []byte fields and leases). The session
// then does not release the payload after decoding but passes release to
// the message, which must call it exactly once when it no longer needs the
// bytes.
type Retainer interface {
	Retain(release func())
}

// Raw is a message whose encoding is its bytes, unchanged: for callers that
// do their own encoding, and for tests.
type Raw []byte

func (r Raw) Msgsize() int                           { return len(r) }
func (r Raw) MarshalMsg(b []byte) ([]byte, error)    { return append(b, r...), nil }
func (r *Raw) UnmarshalMsg(b []byte) ([]byte, error) { *r = append((*r)[:0], b...); return nil, nil }

// MethodID derives the 64-bit ID of a method: the high 32 bits identify the
// service and the low 32 bits the method, so that a server can tell an
// unknown service from an unknown method of a known one. Both halves are
// FNV-1a hashes of the names; registries and the generator reject
// collisions.
func MethodID(service, method string) uint64 {
	return uint64(hash32(service))<<32 | uint64(hash32(service+"."+method))
}

// ServiceOf returns the service half of a method ID.
func ServiceOf(id uint64) uint32 { return uint32(id >> 32) }

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// Metadata is per-call key/value data sent with a request (for example a
// trace ID) or returned with a response. Keys are non-empty ASCII.
type Metadata map[string]string

type mdKey struct{ out bool }

// WithMetadata returns a context whose calls send md with their request.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, mdKey{out: true}, md)
}

// OutgoingMetadata returns the metadata set with WithMetadata.
func OutgoingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(mdKey{out: true}).(Metadata)
	return md
}

// WithIncomingMetadata is used by the session to give a handler the
// metadata that came with its request.
func WithIncomingMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, mdKey{out: false}, md)
}

// IncomingMetadata returns the metadata of the request a handler serves.
func IncomingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(mdKey{out: false}).(Metadata)
	return md
}

type respMDKey struct{}

// WithResponseMetadata returns a context whose calls store the metadata
// the handler returned (its trailer) into *dst when the call ends.
func WithResponseMetadata(ctx context.Context, dst *Metadata) context.Context {
	return context.WithValue(ctx, respMDKey{}, dst)
}

// ResponseMetadataDest returns the destination set by WithResponseMetadata.
func ResponseMetadataDest(ctx context.Context) *Metadata {
	p, _ := ctx.Value(respMDKey{}).(*Metadata)
	return p
}

// MethodKind is the shape of a method: how many messages each side sends.
type MethodKind uint8

const (
	Unary MethodKind = iota + 1
	ServerStream
	ClientStream
	BidiStream
	Notification
)

// ServiceDesc describes a service as the handshake compares it: generated
// code emits one per service, and a host and a plugin built from different
// versions of an interface fail at link time, naming the method whose
// signature differs.
type ServiceDesc struct {
	Name    string
	Methods []MethodDesc
}

// MethodDesc describes one method of a service.
type MethodDesc struct {
	Name string
	ID   uint64 // MethodID(service, method)
	Kind MethodKind
	// Signature is a hash of the method's kind and argument and result
	// types as the generator saw them; equal hashes mean the two sides
	// encode and decode the same messages.
	Signature uint64
	// Idempotent: running the method twice with the same arguments has
	// the effect of running it once (//plexus:idempotent on a unary
	// method). A retry policy may then call it again after a failure
	// that may have come after it ran, with the same idempotency key, by
	// which the serving side's cache answers a repeat with the first
	// result (see package retry and session.IdempotencyCache). It does
	// not travel in the handshake: the serving side's own description
	// says whether it caches.
	Idempotent bool
}
