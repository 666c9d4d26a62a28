package codec_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/codec"
)

// BenchmarkEncodeArgs encodes the typical argument set into a reused
// buffer, as the session does into a slot.
func BenchmarkEncodeArgs(b *testing.B) {
	a := typicalArgs()
	buf := appendArgs(nil, a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendArgs(buf[:0], a)
	}
}

// BenchmarkDecodeArgs decodes it; the []byte is a view (no allocation),
// the string, slice, map and its strings are allocated.
func BenchmarkDecodeArgs(b *testing.B) {
	buf := appendArgs(nil, typicalArgs())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var d codec.Decoder
		d.Reset(buf, codec.Limits{})
		if _, err := readArgs(&d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeScalarsAndView decodes the fields that need no
// allocation: int64, the 1 KiB []byte as a view, the time and an
// attachment reference.
func BenchmarkDecodeScalarsAndView(b *testing.B) {
	buf := appendFlat(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := readFlat(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBytesCopy is the copying counterpart of the view.
func BenchmarkDecodeBytesCopy(b *testing.B) {
	buf := codec.AppendBytes(nil, typicalArgs().Blob)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		d := codec.NewDecoder(buf, codec.Limits{})
		var err error
		if dst, err = d.BytesCopy(dst); err != nil {
			b.Fatal(err)
		}
	}
}

func appendFlat(b []byte) []byte {
	a := typicalArgs()
	b = codec.AppendInt64(b, a.ID)
	b = codec.AppendBytes(b, a.Blob)
	b = codec.AppendTime(b, a.When)
	return codec.AppendAttachment(b, 3)
}

func readFlat(buf []byte) error {
	var d codec.Decoder
	d.Reset(buf, codec.Limits{})
	if _, err := d.Int64(); err != nil {
		return err
	}
	if _, err := d.Bytes(); err != nil {
		return err
	}
	if _, err := d.Time(); err != nil {
		return err
	}
	if _, err := d.Attachment(); err != nil {
		return err
	}
	return d.Finish()
}

// TestViewsDoNotAllocate holds the zero-copy promise: decoding scalars,
// a time, an attachment and a []byte view costs no allocation at all.
func TestViewsDoNotAllocate(t *testing.T) {
	buf := appendFlat(nil)
	if n := testing.AllocsPerRun(100, func() {
		if err := readFlat(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per decode, want 0", n)
	}
	a := typicalArgs()
	out := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { out = appendArgs(out[:0], a) }); n != 0 {
		t.Fatalf("%v allocations per encode into a large enough buffer, want 0", n)
	}
}
