package codec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsume: Consume moves past bytes read from Rest and charges their
// elements to MaxElements; it refuses more bytes than are left, and more
// elements than the budget has, moving nothing.
func TestConsume(t *testing.T) {
	b := AppendUint64(AppendArrayHeader(AppendUint64(nil, 7), 2), 9)
	b = AppendUint64(b, 10)
	var d Decoder
	d.Reset(b, Limits{MaxElements: 3})
	require.NoError(t, d.Consume(1, 1)) // the 7, as if an element
	require.Error(t, d.Consume(d.Len()+1, 0), "past the end")
	require.Equal(t, 1, d.Offset())
	require.Error(t, d.Consume(0, 3), "beyond MaxElements")
	n, err := d.ArrayHeader()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = (&d).Uint64()
	require.NoError(t, err)
	require.Error(t, d.Consume(1, 1), "the budget is spent: 1 + 2")
	require.NoError(t, d.Consume(1, 0))
	require.NoError(t, d.Finish())
}
