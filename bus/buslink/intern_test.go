package buslink

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestDeliverySubjectShared: a delivery whose subject equals the previous
// one's (prev) shares that string rather than allocating its own; another
// subject gets its own and is validated; an invalid one is refused even
// right after a valid one.
func TestDeliverySubjectShared(t *testing.T) {
	enc := func(subject string) []byte {
		b, err := (&delivery{tag: 1, seq: 1, subject: subject, data: []byte("x")}).MarshalMsg(nil)
		require.NoError(t, err)
		return b
	}
	var first delivery
	_, err := first.UnmarshalMsg(enc("doc.1.saved"))
	require.NoError(t, err)

	same := delivery{prev: first.subject}
	_, err = same.UnmarshalMsg(enc("doc.1.saved"))
	require.NoError(t, err)
	require.Equal(t, "doc.1.saved", same.subject)
	require.Equal(t, uintptr(unsafe.Pointer(unsafe.StringData(first.subject))), uintptr(unsafe.Pointer(unsafe.StringData(same.subject))),
		"an equal subject shares the previous string")

	other := delivery{prev: first.subject}
	_, err = other.UnmarshalMsg(enc("doc.2.saved"))
	require.NoError(t, err)
	require.Equal(t, "doc.2.saved", other.subject)

	bad := delivery{prev: first.subject}
	_, err = bad.UnmarshalMsg(enc("doc..saved"))
	require.Error(t, err, "a different subject is validated")

	b := enc("doc.1.saved")
	decode := func(prev string) func() {
		return func() {
			d := delivery{prev: prev}
			_, _ = d.UnmarshalMsg(b)
		}
	}
	shared := testing.AllocsPerRun(100, decode(first.subject))
	own := testing.AllocsPerRun(100, decode("doc.2.saved"))
	require.Equal(t, own-1, shared, "an equal subject costs no allocation")
}
