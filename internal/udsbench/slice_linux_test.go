package udsbench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// The baseline's peer runs with the kernel's default time slice even when
// the process that starts it asked for a short one (a plexus host, whose
// children inherit it): the baseline is a plain program.
func TestPeerHasDefaultSlice(t *testing.T) {
	t.Cleanup(func() { _ = timeslice.Set(0) })
	require.NoError(t, timeslice.Set(0))
	def, err := timeslice.Get()
	require.NoError(t, err)
	require.NoError(t, timeslice.Set(200*time.Microsecond))
	require.NotEqual(t, def, 200*time.Microsecond)

	p, err := StartPeer()
	require.NoError(t, err)
	defer p.Close()
	lat := make([]time.Duration, 1)
	require.NoError(t, PingPong(p.Conn, 1, lat)) // it serves: it has reset its slice
	require.NoError(t, timeslice.Await(p.cmd.Process.Pid, def, time.Second))
}
