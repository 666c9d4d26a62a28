package leasetest

import (
	"testing"

	"github.com/plexus-ipc/plexus/codec"
)

type decodable interface {
	DecodePlexus(*codec.Decoder) error
	MarshalMsg([]byte) ([]byte, error)
	UnmarshalMsg([]byte) ([]byte, error)
}

// FuzzLeaseDecode feeds peer input to the tuples Blobs decodes: the
// arguments of Fill and Pour (requests the serving side decodes) and the
// results of Sum and Gather (responses the caller decodes). A lease
// argument or message is not decoded at all: its bytes are the lease. A
// decoder must fail cleanly or produce a value whose encoding decodes
// again to the same bytes.
func FuzzLeaseDecode(f *testing.F) {
	tuples := []func() decodable{
		func() decodable { return new(blobs_Fill_args) },
		func() decodable { return new(blobs_Pour_args) },
		func() decodable { return new(blobs_Sum_results) },
		func() decodable { return new(blobs_Gather_results) },
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		newT := tuples[int(which)%len(tuples)]
		m := newT()
		var d codec.Decoder
		d.Reset(data, codec.Limits{})
		if m.DecodePlexus(&d) != nil || d.Finish() != nil {
			return
		}
		again, err := m.MarshalMsg(nil)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		m2 := newT()
		if _, err := m2.UnmarshalMsg(again); err != nil {
			t.Fatalf("re-encoding does not decode: %v (%x)", err, again)
		}
		if third, _ := m2.MarshalMsg(nil); string(third) != string(again) {
			t.Fatalf("encoding is not stable: %x then %x", again, third)
		}
	})
}
