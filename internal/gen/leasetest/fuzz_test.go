package leasetest

import (
	"testing"

	"github.com/plexus-ipc/plexus/internal/gen/gentest"
)

// decodable keeps the lists of tuple constructors short.
type decodable = gentest.Decodable

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
		again, m2 := gentest.DecodeRoundTrip(t, tuples[int(which)%len(tuples)], data)
		if m2 == nil {
			return
		}
		if third, _ := m2.MarshalMsg(nil); string(third) != string(again) {
			t.Fatalf("encoding is not stable: %x then %x", again, third)
		}
	})
}
