package host_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

func requireSlices(t *testing.T, pid int, want time.Duration, who string) {
	t.Helper()
	require.NoError(t, timeslice.Await(pid, want, time.Second), who)
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
