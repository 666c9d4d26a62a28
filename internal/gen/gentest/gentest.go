package gentest

import (
	"testing"

	"github.com/plexus-ipc/plexus/codec"
)

// Decodable is what every generated tuple has: the decoder the serving
// side runs on requests and stream messages (and the caller on results),
// and the msgp encoder and decoder.
type Decodable interface {
	DecodePlexus(*codec.Decoder) error
	MarshalMsg([]byte) ([]byte, error)
	UnmarshalMsg([]byte) ([]byte, error)
}

// DecodeRoundTrip feeds data, as peer input, to the decoder of a tuple
// made by newT. A decoder must fail cleanly or produce a value whose
// encoding decodes again: DecodeRoundTrip fails t otherwise. It returns
// that encoding and the tuple it decoded into, or nil, nil when data did
// not decode, so that a caller can check more.
func DecodeRoundTrip(t *testing.T, newT func() Decodable, data []byte) (again []byte, decoded Decodable) {
	t.Helper()
	m := newT()
	var d codec.Decoder
	d.Reset(data, codec.Limits{})
	if m.DecodePlexus(&d) != nil || d.Finish() != nil {
		return nil, nil
	}
	again, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	decoded = newT()
	if _, err := decoded.UnmarshalMsg(again); err != nil {
		t.Fatalf("re-encoding does not decode: %v (%x)", err, again)
	}
	return again, decoded
}
