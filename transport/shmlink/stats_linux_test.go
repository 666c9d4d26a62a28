package shmlink

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// TestStatsExact: on a quiet link every figure is exact: descriptors sent
// and not taken fill the sender's tx and the receiver's rx ring, their
// slots are in use in the sender's pool as both sides see it, frames
// taken and not released are held, buffers from Alloc are leases; and
// each goes back to zero as the frames are taken and released.
func TestStatsExact(t *testing.T) {
	a, b := pair(t, shm.Config{RingCapacity: 64}, Config{})
	transporttest.Watchdog(t, 30*time.Second, a, b)
	sa, sb := a.Stats(), b.Stats()
	require.False(t, sa.Closed)
	require.Empty(t, sa.Fault)
	require.Equal(t, shm.RingUse{Pending: 0, Capacity: 64}, sa.TX)
	require.Equal(t, shm.RingUse{Pending: 0, Capacity: 64}, sb.RX)
	require.Equal(t, sa.Own, sb.Peer, "both sides see the one pool alike")
	ci := -1
	for i, c := range sa.Own {
		require.Zero(t, c.InUse)
		if ci < 0 && c.Size >= 1000 {
			ci = i
		}
	}
	require.GreaterOrEqual(t, ci, 0)

	const n = 3
	var d wire.Desc
	for range n {
		d.Reset()
		d.SetKind(2)
		require.NoError(t, a.Send(&d, bytes.Repeat([]byte{1}, 1000))) // a slot
	}
	d.Reset()
	d.SetKind(2)
	require.NoError(t, a.Send(&d, []byte("inline")))
	sa, sb = a.Stats(), b.Stats()
	require.Equal(t, n+1, sa.TX.Pending)
	require.Equal(t, n+1, sb.RX.Pending)
	require.Equal(t, n, sa.Own[ci].InUse)
	require.Equal(t, n, sb.Peer[ci].InUse)
	require.Zero(t, sb.TX.Pending)

	fs := make([]transport.Frame, n+1)
	for i := range fs {
		require.NoError(t, b.Recv(&fs[i]))
	}
	sa, sb = a.Stats(), b.Stats()
	require.Zero(t, sa.TX.Pending, "taken off the ring")
	require.Zero(t, sb.RX.Pending)
	require.Equal(t, n+1, sb.Held, "three slot frames and one inline copy")
	require.Equal(t, n, sb.Peer[ci].InUse, "held frames keep their slots")
	for i := range fs {
		b.Release(&fs[i])
	}
	sa, sb = a.Stats(), b.Stats()
	require.Zero(t, sb.Held)
	require.Zero(t, sa.Own[ci].InUse)

	small, err := a.Alloc(10)
	require.NoError(t, err)
	slot, err := a.Alloc(1000)
	require.NoError(t, err)
	blob, err := a.Alloc(a.ownMax + 1)
	require.NoError(t, err)
	sa = a.Stats()
	require.Equal(t, 3, sa.Leases)
	require.Equal(t, 1, sa.Blobs.Leases)
	require.Equal(t, 1, sa.Own[ci].InUse)
	a.Free(small)
	a.Free(slot)
	a.Free(blob)
	sa = a.Stats()
	require.Zero(t, sa.Leases)
	require.Zero(t, sa.Blobs.Leases)
	require.Zero(t, sa.Own[ci].InUse)
	require.Equal(t, 1, sa.Blobs.Pooled, "the blob lease's buffer went back to the cache")

	require.NoError(t, a.Close())
	require.Equal(t, Stats{Closed: true}, a.Stats())
	// The other end, still open, reports its peer's end as the link's
	// fault once its monitor has seen the control socket close.
	require.Eventually(t, func() bool {
		st := b.Stats()
		return !st.Closed && st.Fault != ""
	}, 10*time.Second, time.Millisecond)
}

// TestStatsConcurrent: Stats taken without pause from another goroutine
// while frames of every placement flow both ways, and while the link is
// closed under it, stays within its bounds and never touches an unmapped
// segment (the race detector and the segment's unmapping would tell).
func TestStatsConcurrent(t *testing.T) {
	a, b := pair(t, shm.Config{RingCapacity: 256}, Config{})
	transporttest.Watchdog(t, 60*time.Second, a, b)
	sizes := []int{0, 20, 1000, 100 << 10, a.ownMax + 1}
	const frames = 400
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // sender
		defer wg.Done()
		var d wire.Desc
		for i := range frames {
			d.Reset()
			d.SetKind(2)
			if a.Send(&d, make([]byte, sizes[i%len(sizes)])) != nil {
				return
			}
		}
	}()
	go func() { // receiver
		defer wg.Done()
		var f transport.Frame
		for range frames {
			if b.Recv(&f) != nil {
				return
			}
			b.Release(&f)
		}
	}()
	stop := make(chan struct{})
	looked := make(chan int)
	go func() {
		n := 0
		defer func() { looked <- n }()
		for {
			for _, tr := range []*Transport{a, b} {
				st := tr.Stats()
				if st.Closed {
					continue
				}
				n++
				if st.TX.Pending < 0 || st.TX.Pending > st.TX.Capacity || st.RX.Pending < 0 || st.RX.Pending > st.RX.Capacity {
					t.Errorf("ring fill out of bounds: %+v %+v", st.TX, st.RX)
				}
				for _, c := range append(st.Own, st.Peer...) {
					if c.InUse < 0 || c.InUse > c.Count {
						t.Errorf("class out of bounds: %+v", c)
					}
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	wg.Wait()
	require.NoError(t, a.Close()) // while Stats runs
	require.NoError(t, b.Close())
	close(stop)
	require.Positive(t, <-looked)
	require.True(t, a.Stats().Closed)
	require.True(t, b.Stats().Closed)
}
