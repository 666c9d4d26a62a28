package shapetest

import (
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/gen/gentest"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
)

// decodable keeps the lists of tuple constructors short.
type decodable = gentest.Decodable

// FuzzGeneratedDecode feeds peer input to the generated decoders: the
// arguments of every unary method and the messages of every stream, with
// the first byte choosing the tuple. A decoder must fail cleanly or
// produce a value whose encoding decodes again.
func FuzzGeneratedDecode(f *testing.F) {
	tuples := []func() decodable{
		func() decodable { return new(shapes_Basics_args) },
		func() decodable { return new(shapes_Composite_args) },
		func() decodable { return new(shapes_Composite_results) },
		func() decodable { return new(shapes_Count_args) },
		func() decodable { return new(shapes_Count_down) },
		func() decodable { return new(shapes_Sum_up) },
		func() decodable { return new(shapes_Sum_results) },
		func() decodable { return new(shapes_Drain_up) },
		func() decodable { return new(shapes_Echo_up) },
		func() decodable { return new(shapes_Log_args) },
	}
	f.Add(byte(0), mustMarshal(&shapes_Basics_args{a0: true, a5: -1 << 40, a13: "s"}))
	f.Add(byte(1), mustMarshal(&shapes_Composite_args{a0: []byte("b"), a3: []int32{1, 2}, a5: map[string][]string{"k": {"v"}},
		a6: Index{3: {X: 1}}, a9: time.Unix(1e9, 5).UTC(), a11: kvtest.Entry{Key: "e"}, a13: []Point{{Y: 1}}, a14: [][]byte{nil, {1}}}))
	f.Add(byte(4), mustMarshal(&shapes_Count_down{v0: Point{X: 5, Tags: []string{"t"}}}))
	f.Add(byte(9), mustMarshal(&shapes_Log_args{a0: "line", a1: time.Unix(0, 1).UTC()}))
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		gentest.DecodeRoundTrip(t, tuples[int(which)%len(tuples)], data)
	})
}

func mustMarshal(m interface{ MarshalMsg([]byte) ([]byte, error) }) []byte {
	b, err := m.MarshalMsg(nil)
	if err != nil {
		panic(err)
	}
	return b
}
