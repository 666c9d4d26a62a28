package buslink

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

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

	for name, b := range map[string][]byte{
		"a tag skipped":         encodeBatch(t, rec(1), rec(3)),
		"a tag repeated":        encodeBatch(t, rec(1), rec(1)),
		"large before the last": encodeBatch(t, rec(1), large, delivery{tag: 3, seq: 3, subject: "a.b"}),
		"empty":                 encodeBatch(t),
	} {
		in := batchIn{}
		_, err := in.UnmarshalMsg(b)
		require.Error(t, err, name)
		require.Empty(t, in.out, name)
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

	b := encodeBatch(t, rec(1, "doc.1.saved"))
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
	require.Equal(t, 1.0, shared, "one allocation: the delivery with its data")
}
