package host_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// threadSlices reads the time slice of every thread of process pid.
func threadSlices(t *testing.T, pid int) map[int]time.Duration {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	require.NoError(t, err)
	out := map[int]time.Duration{}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out[tid] = time.Duration(a.Runtime)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func requireSlices(t *testing.T, pid int, want time.Duration, who string) {
	t.Helper()
	for tid, d := range threadSlices(t, pid) {
		require.Equal(t, want, d, "%s: thread %d", who, tid)
	}
}

// Starting a plugin gives the host's threads and the plugin's the short
// time slice (Config.TimeSlice, ServeConfig.TimeSlice), by default 100 us;
// a negative TimeSlice leaves the host's threads as they were, and the
// plugin then asks for its own.
func TestTimeSlice(t *testing.T) {
	t.Cleanup(func() { _ = timeslice.Set(0) })
	require.NoError(t, timeslice.Set(0))
	def, err := timeslice.Get()
	require.NoError(t, err)
	var buf logBuf
	c := start(t, config(t, &buf))
	requireSlices(t, os.Getpid(), timeslice.Default, "host")
	requireSlices(t, c.Pid(), timeslice.Default, "plugin")
	require.NoError(t, c.Close())

	require.NoError(t, timeslice.Set(0))
	cfg := config(t, &buf, "HOSTTEST_SLICE=300us")
	cfg.TimeSlice = 200 * time.Microsecond
	c = start(t, cfg)
	requireSlices(t, os.Getpid(), 200*time.Microsecond, "host")
	requireSlices(t, c.Pid(), 300*time.Microsecond, "plugin's own")
	require.NoError(t, c.Close())

	require.NoError(t, timeslice.Set(0))
	cfg = config(t, &buf)
	cfg.TimeSlice = -1
	c = start(t, cfg)
	_, err = echo(context.Background(), c, "x") // the link works either way
	require.NoError(t, err)
	requireSlices(t, os.Getpid(), def, "host left alone")
	requireSlices(t, c.Pid(), timeslice.Default, "plugin asks for its own")
	require.NoError(t, c.Close())
}
