package udsbench

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// The baseline's peer runs with the kernel's default time slice even when
// the process that starts it asked for a short one (a plexus host, whose
// children inherit it): the baseline is a plain program.
func TestPeerHasDefaultSlice(t *testing.T) {
	def, err := timeslice.Get()
	require.NoError(t, err)
	t.Cleanup(func() { _ = timeslice.Set(0) })
	require.NoError(t, timeslice.Set(200*time.Microsecond))
	require.NotEqual(t, def, 200*time.Microsecond)

	p, err := StartPeer()
	require.NoError(t, err)
	defer p.Close()
	lat := make([]time.Duration, 1)
	require.NoError(t, PingPong(p.Conn, 1, lat)) // it serves: it has reset its slice
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task")
	require.NoError(t, err)
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		a, err := unix.SchedGetAttr(tid, 0)
		require.NoError(t, err)
		require.Equal(t, def, time.Duration(a.Runtime), "peer thread %d", tid)
	}
}
