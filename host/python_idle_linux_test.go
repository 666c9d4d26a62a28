package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/pyfilter/filter"
	"github.com/plexus-ipc/plexus/host"
)

// cpuTicks is utime+stime of a process, in clock ticks (USER_HZ, 100 on
// Linux), from /proc/<pid>/stat.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	// The command name is in parentheses and may hold spaces: the fields
	// after it start at the last ')'.
	i := strings.LastIndexByte(s, ')')
	require.Positive(t, i)
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	require.Greater(t, len(f), 13)
	u, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(t, err)
	st, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(t, err)
	return u + st
}

// TestPythonIdleCPU: a Python plugin that served calls and then has none
// must not spin: it polls only for a bounded budget after activity, then
// parks on its doorbell. Over 2 s of idleness it uses under 2 % of a core.
func TestPythonIdleCPU(t *testing.T) {
	needPython(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := filepath.Join(root, "demos", "pyfilter")
	c := start(t, host.Config{
		Link: host.LinkSharedMemory, Name: "filter-idle", Cookie: "plexus-pyfilter",
		Versions:     map[uint32][]host.ServiceDesc{1: {filter.FilterServiceDesc}},
		Logger:       hclog.NewNullLogger(),
		StartTimeout: 20 * time.Second, GracePeriod: 2 * time.Second,
		Path: pythonExe,
		Args: []string{filepath.Join(dir, "plugin.py")},
		Env:  []string{"PYTHONPATH=" + filepath.Join(root, "python") + ":" + filepath.Join(dir, "filter")},
	})
	f := filter.NewFilterClient(c)
	ctx := context.Background()
	// Activity first, so that the plugin's loop has a polling budget and
	// its standby thread watches, as after real traffic.
	for i := range 2000 {
		s, err := f.Add(ctx, int64(i), 1)
		require.NoError(t, err)
		require.Equal(t, int64(i)+1, s)
	}
	pid := c.Pid()
	require.Positive(t, pid)
	// Settle: the standby stops watching 200 ms after the last call.
	time.Sleep(500 * time.Millisecond)
	const idle = 2 * time.Second
	t0, w0 := cpuTicks(t, pid), time.Now()
	time.Sleep(idle)
	t1, el := cpuTicks(t, pid), time.Since(w0)
	used := time.Duration(t1-t0) * 10 * time.Millisecond // USER_HZ is 100
	frac := used.Seconds() / el.Seconds()
	t.Logf("idle plugin used %v of CPU in %v (%.2f %% of a core)", used, el.Round(time.Millisecond), 100*frac)
	require.Less(t, frac, 0.02, "the idle Python plugin spins")
	// Still serving after the idle time (the park did not lose a wake-up).
	s, err := f.Add(ctx, 40, 2)
	require.NoError(t, err)
	require.Equal(t, int64(42), s)
}
