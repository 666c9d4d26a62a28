package delivery

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMemoryStoreSize: the window keeps the Size most recent IDs, oldest
// out first, and its memory follows its size, not the IDs it ever held.
func TestMemoryStoreSize(t *testing.T) {
	s := NewMemoryStore(WindowConfig{Size: 3})
	for _, id := range []string{"a", "b", "c"} {
		s.Record(id)
	}
	for _, id := range []string{"a", "b", "c"} {
		require.True(t, s.Seen(id), id)
	}
	s.Record("d")
	require.False(t, s.Seen("a"), "the oldest went first")
	for _, id := range []string{"b", "c", "d"} {
		require.True(t, s.Seen(id), id)
	}
	s.Record("b") // recorded already: no change, nothing evicted
	require.True(t, s.Seen("c"))
	require.Equal(t, 3, s.Len())

	for i := range 10000 {
		s.Record(fmt.Sprint(i))
		require.LessOrEqual(t, len(s.fifo), 2*3+1, "after %d", i)
	}
	require.Equal(t, 3, s.Len())
	require.True(t, s.Seen("9999"))
	require.True(t, s.Seen("9997"))
	require.False(t, s.Seen("9996"))
}

// TestMemoryStoreAge: IDs older than Age are forgotten.
func TestMemoryStoreAge(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := NewMemoryStore(WindowConfig{Age: 10 * time.Minute})
	s.now = func() time.Time { return now }
	s.Record("a")
	now = now.Add(6 * time.Minute)
	s.Record("b")
	now = now.Add(4 * time.Minute)
	require.True(t, s.Seen("a"), "exactly Age old: kept")
	now = now.Add(time.Second)
	require.False(t, s.Seen("a"), "older than Age")
	require.True(t, s.Seen("b"))
	now = now.Add(6 * time.Minute)
	require.False(t, s.Seen("b"))
	require.Zero(t, s.Len())
	require.Empty(t, s.at)
}

// TestMemoryStoreDefaults: a zero WindowConfig keeps 65,536 IDs for 10
// minutes.
func TestMemoryStoreDefaults(t *testing.T) {
	s := NewMemoryStore(WindowConfig{})
	require.Equal(t, WindowConfig{Size: 65536, Age: 10 * time.Minute}, s.w)
	for i := range DefaultWindowSize + 1 {
		s.Record(fmt.Sprint(i))
	}
	require.Equal(t, DefaultWindowSize, s.Len())
	require.False(t, s.Seen("0"))
	require.True(t, s.Seen("1"))
}
