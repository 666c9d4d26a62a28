package codec_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/plexus-ipc/plexus/codec"
	"github.com/stretchr/testify/require"
)

// hostile pairs a short input that declares a huge length or count with
// the decoder that meets it and the error it must produce.
type hostile struct {
	name string
	in   []byte
	dec  func(*codec.Decoder) error
	msg  string
}

var pad12 = bytes.Repeat([]byte{0xc0}, 12)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func hostileInputs() []hostile {
	str := func(d *codec.Decoder) error { _, err := d.String(); return err }
	view := func(d *codec.Decoder) error { _, err := d.StringView(); return err }
	bin := func(d *codec.Decoder) error { _, err := d.BytesCopy(nil); return err }
	i64s := func(d *codec.Decoder) error { _, err := codec.ReadSlice(d, (*codec.Decoder).Int64); return err }
	strs := func(d *codec.Decoder) error {
		_, err := codec.ReadMap(d, (*codec.Decoder).String, (*codec.Decoder).String)
		return err
	}
	skip := func(d *codec.Decoder) error { return d.Skip() }
	shape := func(d *codec.Decoder) error { var s Shape; return d.ReadMsg(&s) }
	args := func(d *codec.Decoder) error { _, err := readArgs(d); return err }
	return []hostile{
		{"str32", cat([]byte{0xdb, 0xff, 0xff, 0xff, 0xff}, pad12), str, "codec: str of 4294967295 bytes declared with 12 bytes left at offset 0"},
		{"str32 view", cat([]byte{0xdb, 0xff, 0xff, 0xff, 0xff}, pad12), view, "codec: str of 4294967295 bytes declared with 12 bytes left at offset 0"},
		{"bin32", cat([]byte{0xc6, 0xff, 0xff, 0xff, 0xff}, pad12), bin, "codec: bin of 4294967295 bytes declared with 12 bytes left at offset 0"},
		{"array32", cat([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, pad12), i64s, "codec: array of 4294967295 elements declared with 12 bytes left at offset 0"},
		{"map32", cat([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, pad12), strs, "codec: map of 4294967295 entries declared with 12 bytes left at offset 0"},
		{"ext32 skipped", cat([]byte{0xc9, 0xff, 0xff, 0xff, 0xff, 7}, pad12), skip, "codec: ext of 4294967295 bytes declared with 12 bytes left at offset 0"},
		{"array in skip", cat([]byte{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}, pad12), skip, "codec: array of 4294967295 elements declared with 12 bytes left at offset 2"},
		// Shape's generated code would make([]Point, 4294967295) itself;
		// the walk refuses first.
		{"msgp slice", cat([]byte{0x81, 0xa6}, []byte("points"), []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, pad12[:5]),
			shape, "codec: array of 4294967295 elements declared with 5 bytes left at offset 8"},
		{"msgp map", cat([]byte{0x81, 0xa4}, []byte("tags"), []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, pad12[:7]),
			shape, "codec: map of 4294967295 entries declared with 7 bytes left at offset 6"},
		{"args map", cat([]byte{0x96, 0x01, 0xa0, 0xc0, 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff}, pad12[:10]), args,
			"codec: map of 4294967295 entries declared with 10 bytes left at offset 5"},
	}
}

func TestHostileLengths(t *testing.T) {
	for _, h := range hostileInputs() {
		t.Run(h.name, func(t *testing.T) {
			err := h.dec(codec.NewDecoder(h.in, codec.Limits{}))
			require.ErrorIs(t, err, codec.ErrMalformed)
			require.EqualError(t, err, h.msg)
		})
	}
}

// TestHostileAllocation decodes each hostile input many times and requires
// it to cost less than 1 KiB of heap per decode, error included.
func TestHostileAllocation(t *testing.T) {
	for _, h := range hostileInputs() {
		t.Run(h.name, func(t *testing.T) {
			require.LessOrEqual(t, len(h.in), 24)
			const runs = 200
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range runs {
				var d codec.Decoder
				d.Reset(h.in, codec.Limits{})
				require.Error(t, h.dec(&d))
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			require.Less(t, perRun, uint64(1024), "bytes allocated per hostile decode")
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		b := codec.AppendString(nil, "0123456789")
		_, err := codec.NewDecoder(b, codec.Limits{MaxStringLen: 9}).String()
		require.ErrorIs(t, err, codec.ErrLimit)
		require.EqualError(t, err, "codec: str of 10 bytes exceeds MaxStringLen 9 at offset 0")
		_, err = codec.NewDecoder(b, codec.Limits{MaxStringLen: 10}).String()
		require.NoError(t, err)
		require.ErrorIs(t, codec.NewDecoder(b, codec.Limits{MaxStringLen: 9}).Skip(), codec.ErrLimit)
	})
	t.Run("bytes", func(t *testing.T) {
		b := codec.AppendBytes(nil, make([]byte, 100))
		_, err := codec.NewDecoder(b, codec.Limits{MaxBytesLen: 99}).Bytes()
		require.ErrorIs(t, err, codec.ErrLimit)
		require.EqualError(t, err, "codec: bin of 100 bytes exceeds MaxBytesLen 99 at offset 0")
		_, err = codec.NewDecoder(b, codec.Limits{MaxBytesLen: -1}).Bytes()
		require.NoError(t, err, "a negative limit means none")
	})
	t.Run("elements across the message", func(t *testing.T) {
		// Two arrays of 6: each fits a budget of 10, together they do not.
		one := codec.AppendSlice(nil, []int32{1, 2, 3, 4, 5, 6}, codec.AppendInt32)
		b := append(append([]byte{}, one...), one...)
		d := codec.NewDecoder(b, codec.Limits{MaxElements: 10})
		_, err := codec.ReadSlice(d, (*codec.Decoder).Int32)
		require.NoError(t, err)
		_, err = codec.ReadSlice(d, (*codec.Decoder).Int32)
		require.ErrorIs(t, err, codec.ErrLimit)
		require.EqualError(t, err, "codec: array of 6 elements exceeds MaxElements 10 (6 used before it) at offset 7")
		// The walk charges the same budget.
		require.ErrorIs(t, codec.NewDecoder(cat([]byte{0x92}, one, one), codec.Limits{MaxElements: 13}).Skip(), codec.ErrLimit)
		require.NoError(t, codec.NewDecoder(cat([]byte{0x92}, one, one), codec.Limits{MaxElements: 14}).Skip())
	})
	t.Run("depth 10000", func(t *testing.T) {
		deep := append(bytes.Repeat([]byte{0x91}, 10000), 0xc0)
		err := codec.NewDecoder(deep, codec.Limits{}).Skip()
		require.ErrorIs(t, err, codec.ErrLimit)
		require.EqualError(t, err, "codec: nesting deeper than MaxDepth 64 at offset 64")
		// Deep maps through a msgp type: Shape.Next nests 10000 times.
		next := cat([]byte{0x81, 0xa4}, []byte("next"))
		chain := append(bytes.Repeat(next, 10000), 0x80)
		var s Shape
		err = codec.NewDecoder(chain, codec.Limits{}).ReadMsg(&s)
		require.ErrorIs(t, err, codec.ErrLimit)
		// Within the limit the same chain decodes.
		short := append(bytes.Repeat(next, 63), 0x80)
		require.NoError(t, codec.NewDecoder(short, codec.Limits{}).ReadMsg(&s))
		// A recursive decoder built on ReadPtr stops at MaxDepth too.
		ptrs := append(bytes.Repeat([]byte{0x91}, 10000), 0xc0)
		_, err = readList(codec.NewDecoder(ptrs, codec.Limits{MaxDepth: 20}))
		require.ErrorIs(t, err, codec.ErrLimit)
	})
	t.Run("attachment within array", func(t *testing.T) {
		b := codec.AppendArrayHeader(nil, 2)
		b = codec.AppendAttachment(b, 3)
		b = codec.AppendAttachment(b, 4)
		require.NoError(t, codec.NewDecoder(b, codec.Limits{}).Skip())
	})
}

// list is a recursive type: each node is an array of one element, its
// tail, ending in nil.
type list struct{ next *list }

func readList(d *codec.Decoder) (*list, error) {
	return codec.ReadPtr(d, func(d *codec.Decoder) (list, error) {
		if _, err := d.ArrayHeader(); err != nil {
			return list{}, err
		}
		next, err := readList(d)
		return list{next: next}, err
	})
}

// TestTruncatedArgs cuts a typical argument set at every offset: each
// prefix must fail with ErrMalformed, and never panic.
func TestTruncatedArgs(t *testing.T) {
	b := appendArgs(nil, typicalArgs())
	for n := range len(b) {
		_, err := readArgs(codec.NewDecoder(b[:n], codec.Limits{}))
		require.ErrorIs(t, err, codec.ErrMalformed, "prefix of %d bytes", n)
		require.ErrorIs(t, codec.NewDecoder(b[:n], codec.Limits{}).Skip(), codec.ErrMalformed, "skip prefix of %d bytes", n)
	}
}

// flipper decodes a Shape, but first rewrites the array count of its
// Points in the decoder's input, as a peer that still writes the slot a
// value lives in could do between the bounded walk and the generated
// decoder: ReadMsg must hand the decoder bytes of its own.
type flipper struct {
	Shape
	input []byte // the Decoder's input
	at    int    // offset of the count's two bytes in input
	saw   []byte // what UnmarshalMsg was given
}

func (f *flipper) UnmarshalMsg(b []byte) ([]byte, error) {
	f.saw = b
	f.input[f.at], f.input[f.at+1] = 0xff, 0xff
	return f.Shape.UnmarshalMsg(b)
}

func TestReadMsgDecodesWhatWasChecked(t *testing.T) {
	// {"points": [{X:1, Y:2, Label:""}]} with an array16 count, so the
	// flip keeps the value's length.
	p, err := (&Point{X: 1, Y: 2}).MarshalMsg(nil)
	require.NoError(t, err)
	in := cat([]byte{0x81, 0xa6}, []byte("points"), []byte{0xdc, 0x00, 0x01}, p)
	f := &flipper{input: in, at: 9}
	d := codec.NewDecoder(in, codec.Limits{})
	require.NoError(t, d.ReadMsg(f))
	require.NoError(t, d.Finish())
	require.Equal(t, []Point{{X: 1, Y: 2}}, f.Points, "the decoder saw the count the walk checked")
	require.Equal(t, byte(0xff), in[9], "the input was rewritten during the decode")
	require.NotSame(t, &in[0], &f.saw[0], "UnmarshalMsg must not read the (peer-writable) input")
}
