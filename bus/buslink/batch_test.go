package buslink

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
)

// batchOut is a batch of records, encoded whole through a batchBuf as
// the host builds one: the tests' form of a batch. The records' tags are
// consecutive; the first gives the batch's.
type batchOut struct {
	recs []delivery
}

func (m *batchOut) Msgsize() int {
	n := 2*codec.SizeArrayHeader + codec.SizeInt
	for i := range m.recs {
		n += m.recs[i].Msgsize()
	}
	return n
}

func (m *batchOut) MarshalMsg(b []byte) ([]byte, error) {
	var bb batchBuf
	bb.reset()
	var first uint64
	for i := range m.recs {
		bb.add(&m.recs[i])
	}
	if len(m.recs) > 0 {
		first = m.recs[0].tag
	}
	return append(b, bb.frame(first)...), nil
}

func encodeBatch(t *testing.T, recs ...delivery) []byte {
	t.Helper()
	b, err := (&batchOut{recs: recs}).MarshalMsg(nil)
	require.NoError(t, err)
	return b
}

// TestBatchRules: a batch holds 1 to MaxBatch deliveries whose tags
// follow the last one received, and only its last may be large.
func TestBatchRules(t *testing.T) {
	rec := func(tag uint64) delivery { return delivery{tag: tag, seq: tag, subject: "a.b", data: []byte("x")} }
	large := delivery{tag: 2, seq: 2, subject: "a.b", flags: flagLarge, size: LargeData + 1}

	in := batchIn{}
	_, err := in.UnmarshalMsg(encodeBatch(t, rec(1), rec(2), rec(3)))
	require.NoError(t, err)
	require.Len(t, in.out, 3)
	require.Equal(t, uint64(3), in.tag)
	_, err = in.UnmarshalMsg(encodeBatch(t, rec(4)))
	require.NoError(t, err, "the next batch goes on from the last tag")
	require.Len(t, in.out, 1)

	for name, c := range map[string]struct {
		after uint64 // the last tag received before
		b     []byte
	}{
		"a tag skipped":         {1, encodeBatch(t, rec(3))},
		"a tag repeated":        {1, encodeBatch(t, rec(1), rec(2))},
		"large before the last": {0, encodeBatch(t, rec(1), large, delivery{tag: 3, seq: 3, subject: "a.b"})},
		"empty":                 {0, encodeBatch(t)},
	} {
		in := batchIn{tag: c.after}
		_, err := in.UnmarshalMsg(c.b)
		require.Error(t, err, name)
		require.Empty(t, in.out, name)
		require.Equal(t, c.after, in.tag, name)
	}
	in = batchIn{tag: 5}
	_, err = in.UnmarshalMsg(encodeBatch(t, rec(1)))
	require.Error(t, err, "tags start again from 1")

	too := make([]delivery, MaxBatch+1)
	for i := range too {
		too[i] = rec(uint64(i + 1))
	}
	_, err = (&batchIn{}).UnmarshalMsg(encodeBatch(t, too...))
	require.Error(t, err, "more than MaxBatch")
	_, err = (&batchIn{}).UnmarshalMsg(encodeBatch(t, too[:MaxBatch]...))
	require.NoError(t, err, "MaxBatch")

	in = batchIn{}
	_, err = in.UnmarshalMsg(encodeBatch(t, rec(1), large))
	require.NoError(t, err, "large last")
	require.Equal(t, uint64(LargeData+1), in.large)
	require.Empty(t, in.out[1].Data)
}

// TestBatchSubjectShared: a delivery whose subject equals the one before
// it, in its batch or the previous one, shares that string rather than
// allocating its own; another subject gets its own and is validated; an
// invalid one is refused even right after a valid one.
func TestBatchSubjectShared(t *testing.T) {
	rec := func(tag uint64, subject string) delivery {
		return delivery{tag: tag, seq: tag, subject: subject, data: []byte("x")}
	}
	ptr := func(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
	in := batchIn{}
	_, err := in.UnmarshalMsg(encodeBatch(t, rec(1, "doc.1.saved"), rec(2, "doc.1.saved")))
	require.NoError(t, err)
	first := in.out[0].Subject
	require.Equal(t, ptr(first), ptr(in.out[1].Subject), "an equal subject in the batch shares the string")
	_, err = in.UnmarshalMsg(encodeBatch(t, rec(3, "doc.1.saved"), rec(4, "doc.2.saved")))
	require.NoError(t, err)
	require.Equal(t, ptr(first), ptr(in.out[0].Subject), "and in the next batch")
	require.Equal(t, "doc.2.saved", in.out[1].Subject)

	_, err = in.UnmarshalMsg(encodeBatch(t, rec(5, "doc.2.saved"), rec(6, "doc..saved")))
	require.Error(t, err, "a different subject is validated")

	recs := make([]delivery, 100)
	for i := range recs {
		recs[i] = rec(uint64(i+1), "doc.1.saved")
	}
	b := encodeBatch(t, recs...)
	in = batchIn{}
	decode := func(prev string) func() {
		return func() {
			in.subject, in.tag = prev, 0
			_, _ = in.UnmarshalMsg(b)
		}
	}
	shared := testing.AllocsPerRun(100, decode(first))
	own := testing.AllocsPerRun(100, decode("doc.2.saved"))
	require.Equal(t, own-1, shared, "an equal subject costs no allocation")
	require.Equal(t, 2.0, shared, "two allocations for 100 deliveries: theirs, and their data's")
}

// TestBatchPlace: a batch's deliveries share its two allocations, their
// data capped so that appending to one cannot write over the next; an
// empty Data stays empty (not nil), absent Data nil, and data longer
// than placeMax gets its own memory.
func TestBatchPlace(t *testing.T) {
	big := make([]byte, placeMax+1)
	big[0] = 7
	recs := []delivery{
		{tag: 1, seq: 1, subject: "a", data: []byte("one")},
		{tag: 2, seq: 2, subject: "a", data: []byte("two")},
		{tag: 3, seq: 3, subject: "a", data: []byte{}},
		{tag: 4, seq: 4, subject: "a"},
		{tag: 5, seq: 5, subject: "a", data: big},
	}
	in := batchIn{}
	_, err := in.UnmarshalMsg(encodeBatch(t, recs...))
	require.NoError(t, err)
	require.Len(t, in.out, 5)
	one, two := in.out[0].Data, in.out[1].Data
	require.Equal(t, "one", string(one))
	require.Equal(t, 3, cap(one), "capped at its length")
	_ = append(one, 'X')
	require.Equal(t, "two", string(two), "an append to one leaves the next alone")
	require.Equal(t, uintptr(unsafe.Pointer(&one[0]))+3, uintptr(unsafe.Pointer(&two[0])), "one allocation for the small data")
	require.NotNil(t, in.out[2].Data)
	require.Empty(t, in.out[2].Data)
	require.Nil(t, in.out[3].Data)
	require.Equal(t, big, in.out[4].Data)
	for i, d := range in.out {
		require.Equal(t, uint64(i+1), d.tag)
	}
	require.Nil(t, in.slab, "the decoder keeps none of the batch's memory")
	require.Nil(t, in.chunk)
}

// TestAppendSmall: the short form of a record writes the bytes the
// general form writes, at the edges of its conditions too.
func TestAppendSmall(t *testing.T) {
	general := func(m *delivery) []byte {
		b := codec.AppendArrayHeader(nil, 6)
		b = codec.AppendUint64(b, m.seq)
		b = codec.AppendString(b, m.subject)
		b = appendHeader(b, m.header)
		b = codec.AppendBytes(b, m.data)
		b = codec.AppendUint8(b, m.flags)
		return codec.AppendUint64(b, m.size)
	}
	for _, seq := range []uint64{0, 1, 127, 128, 255, 256, 1 << 16, 1 << 32, math.MaxUint64} {
		for _, subject := range []string{"a", "doc.1.saved", strings.Repeat("s", 31), strings.Repeat("s", 32)} {
			for _, n := range []int{0, 1, 64, 255, 256} {
				for _, flags := range []uint8{0, flagRedelivered | flagReplayed} {
					m := delivery{seq: seq, subject: subject, data: bytes.Repeat([]byte{'d'}, n), flags: flags}
					require.Equal(t, general(&m), m.appendTo([]byte("prefix"))[6:], "%d %q %d", seq, subject, n)
				}
			}
		}
	}
	m := delivery{seq: 9, subject: "a", header: plexus.Metadata{"k": "v"}, data: []byte("x")}
	require.Equal(t, general(&m), m.appendTo(nil), "with a header")
	m = delivery{seq: 9, subject: "a"}
	require.Equal(t, general(&m), m.appendTo(nil), "nil data")
}

// TestReadSmall: the short form read straight from the bytes gives the
// record the Decoder gives, takes exactly its bytes, and takes nothing of
// a truncated record or of another form.
func TestReadSmall(t *testing.T) {
	viaDecoder := func(b []byte) (delivery, int) {
		var m delivery
		var d codec.Decoder
		d.Reset(b, batchLimits)
		require.NoError(t, d.Tuple(6))
		var err error
		m.seq, err = d.Uint64()
		require.NoError(t, err)
		m.subject, err = d.String()
		require.NoError(t, err)
		m.header, err = readHeader(&d)
		require.NoError(t, err)
		m.data, err = d.Bytes()
		require.NoError(t, err)
		m.flags, err = d.Uint8()
		require.NoError(t, err)
		m.size, err = d.Uint64()
		require.NoError(t, err)
		return m, d.Offset()
	}
	for _, seq := range []uint64{0, 127, 128, 255, 256, 65535, 65536, 1 << 32, math.MaxUint64} {
		for _, subject := range []string{"a", "doc.1.saved", strings.Repeat("s", 31)} {
			for _, n := range []int{0, 1, 255} {
				m := delivery{seq: seq, subject: subject, data: bytes.Repeat([]byte{'d'}, n), flags: flagReplayed}
				b := append(m.appendTo(nil), 0xc0) // and a byte of what follows
				want, size := viaDecoder(b)
				var got delivery
				require.Equal(t, size, got.readSmall(b, ""), "%d %q %d", seq, subject, n)
				require.Equal(t, want, got)
				for k := range size {
					var short delivery
					require.Zero(t, short.readSmall(b[:k], ""), "truncated to %d", k)
				}
				var shared delivery
				prev := strings.Clone(subject)
				shared.readSmall(b, prev)
				require.Equal(t, unsafe.StringData(prev), unsafe.StringData(shared.subject), "an equal subject is prev itself")
			}
		}
	}
	for name, m := range map[string]delivery{
		"header":   {seq: 1, subject: "a", header: plexus.Metadata{"k": "v"}, data: []byte("x")},
		"nil data": {seq: 1, subject: "a"},
		"large":    {seq: 1, subject: "a", flags: flagLarge, size: LargeData + 1},
		"str8":     {seq: 1, subject: strings.Repeat("s", 32), data: []byte("x")},
		"bin16":    {seq: 1, subject: "a", data: make([]byte, 256)},
	} {
		var got delivery
		require.Zero(t, got.readSmall(m.appendTo(nil), ""), name)
	}
}
