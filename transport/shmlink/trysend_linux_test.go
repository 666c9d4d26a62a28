package shmlink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// TrySend sends a frame without a payload while the ring has room, reports
// false with nothing sent once it is full (never waiting), sends again
// once the peer took a frame, and fails once the link is closed.
func TestTrySend(t *testing.T) {
	const ring = 64
	h, p := pair(t, shm.Config{RingCapacity: ring, Wait: time.Second}, Config{})
	var _ transport.TrySender = h
	credit := func(n uint32) *wire.Desc {
		var d wire.Desc
		d.Start(wire.KindCredit, 0, 0)
		d.SetCredit(n)
		return &d
	}
	sent := 0
	for i := range 2 * ring {
		start := time.Now()
		ok, err := h.TrySend(credit(uint32(i + 1)))
		require.NoError(t, err)
		require.Less(t, time.Since(start), 100*time.Millisecond, "TrySend never waits")
		if !ok {
			break
		}
		sent++
	}
	require.Equal(t, ring, sent, "as many frames as the ring holds, then false")

	var f transport.Frame
	ok, err := p.TryRecv(&f)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, wire.KindCredit, f.Desc.Kind())
	require.Equal(t, uint32(1), f.Desc.Credit(), "frames arrive in order, whole")
	require.Zero(t, f.Desc.Length(), "with no payload")
	p.Release(&f)

	ok, err = h.TrySend(credit(1000))
	require.NoError(t, err)
	require.True(t, ok, "room again after the peer took a frame")
	for i := 2; i <= ring; i++ {
		ok, err := p.TryRecv(&f)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint32(i), f.Desc.Credit())
		p.Release(&f)
	}
	ok, err = p.TryRecv(&f)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(1000), f.Desc.Credit())
	p.Release(&f)

	require.NoError(t, h.Close())
	ok, err = h.TrySend(credit(1))
	require.Error(t, err, "a closed link")
	require.False(t, ok)
}
