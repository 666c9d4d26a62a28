package shmlink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// A frame the peer pushes just before it closes is delivered even when the
// receiver found the ring empty and then saw the peer's death: the hook
// puts the peer's last send, its close and the death being recorded
// exactly between the receiver's empty read and its look at the link's
// state, the window in which a graceful close (GOAWAY, then close) was
// taken for a death.
func TestLastFrameBeforeCloseDelivered(t *testing.T) {
	h, p := pair(t, shm.Config{Wait: time.Second}, Config{})
	fired := false
	testHookEmptyRing = func() {
		if fired {
			return
		}
		fired = true
		var d wire.Desc
		d.Start(wire.KindGoAway, 0, 0)
		require.NoError(t, h.Send(&d, []byte("draining")))
		require.NoError(t, h.Close())
		require.Eventually(t, func() bool { return p.state.err() != nil },
			5*time.Second, time.Millisecond, "the peer's close is seen")
	}
	t.Cleanup(func() { testHookEmptyRing = nil })

	var f transport.Frame
	ok, err := p.TryRecv(&f)
	require.True(t, fired, "the ring was found empty")
	require.NoError(t, err, "the frame sent before the close comes first")
	require.True(t, ok)
	require.Equal(t, wire.KindGoAway, f.Desc.Kind())
	require.Equal(t, "draining", string(f.Payload))
	p.Release(&f)

	ok, err = p.TryRecv(&f)
	require.False(t, ok)
	require.Equal(t, plexus.PeerDied, plexus.CodeOf(err), "then the death: %v", err)
}
