package shm

import (
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// resident reports, per page of mem, whether the file page behind it is in
// memory (mincore(2): for a memfd, allocated).
func resident(t *testing.T, mem []byte) []bool {
	t.Helper()
	vec := make([]byte, (len(mem)+pageSize-1)/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	require.Zero(t, errno, "mincore")
	out := make([]bool, len(vec))
	for i, v := range vec {
		out[i] = v&1 != 0
	}
	return out
}

func inLazy(lazy []span, page int) bool {
	for _, sp := range lazy {
		if page*pageSize >= sp.lo && page*pageSize < sp.hi {
			return true
		}
	}
	return false
}

// TestPrefaultTwoParts: Create allocates every page but those of the
// large classes' slots, which the filling allocates after Endpoint; then
// every page is in memory.
func TestPrefaultTwoParts(t *testing.T) {
	seg, err := Create(Config{})
	require.NoError(t, err)
	defer seg.Close()
	lazy := seg.m.lazySpans()
	require.NotEmpty(t, lazy, "the default classes include large ones")
	total := 0
	for i, sp := range lazy {
		require.Zero(t, sp.lo%pageSize)
		require.Zero(t, sp.hi%pageSize)
		require.Less(t, sp.lo, sp.hi)
		if i > 0 {
			require.LessOrEqual(t, lazy[i-1].hi, sp.lo)
		}
		total += sp.hi - sp.lo
	}
	// Rings and the pools' bookkeeping are never lazy.
	for d := range 2 {
		require.False(t, inLazy(lazy, seg.m.layout.RingOffset[d]/pageSize))
		require.False(t, inLazy(lazy, seg.m.layout.PoolOffset[d]/pageSize))
	}
	before := resident(t, seg.m.mem)
	for page, in := range before {
		if inLazy(lazy, page) {
			require.False(t, in, "page %d of a large slot is allocated before the filling", page)
		} else {
			require.True(t, in, "page %d outside the large slots is not allocated at Create", page)
		}
	}
	_, err = seg.Endpoint()
	require.NoError(t, err)
	select {
	case <-seg.filled:
	case <-time.After(10 * time.Second):
		t.Fatal("the filling did not end within 10 s")
	}
	for page, in := range resident(t, seg.m.mem) {
		require.True(t, in, "page %d is not allocated after the filling", page)
	}
	t.Logf("%d of %d KiB filled after the link was up", total>>10, len(seg.m.mem)>>10)
}

// TestPrefaultSmallClassesEager: a segment without large classes has
// nothing to fill; every page is allocated at Create.
func TestPrefaultSmallClassesEager(t *testing.T) {
	seg, err := Create(Config{HostClasses: []Class{{Size: 256, Count: 64}}, PluginClasses: []Class{{Size: 1024, Count: 16}}})
	require.NoError(t, err)
	defer seg.Close()
	require.Empty(t, seg.m.lazySpans())
	_, err = seg.Endpoint()
	require.NoError(t, err)
	require.Nil(t, seg.filled)
	for page, in := range resident(t, seg.m.mem) {
		require.True(t, in, "page %d", page)
	}
}

// TestPrefaultCloseStopsFilling: Close before the filling starts, and
// while it runs, returns within a bound and leaves no goroutine touching
// the unmapped segment (the race detector and the unmapped address would
// tell).
func TestPrefaultCloseStopsFilling(t *testing.T) {
	for _, wait := range []time.Duration{0, fillDelay + time.Millisecond} {
		seg, err := Create(Config{})
		require.NoError(t, err)
		_, err = seg.Endpoint()
		require.NoError(t, err)
		time.Sleep(wait)
		t0 := time.Now()
		require.NoError(t, seg.Close())
		require.Less(t, time.Since(t0), 2*time.Second, "Close waited for the filling (after %v)", wait)
	}
}
