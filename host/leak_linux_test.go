package host_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// resources counts what a plugin's life could leak in this process.
type resources struct {
	children, fds, memfds, mappings, goroutines int
}

func count(t testing.TB) resources {
	t.Helper()
	var r resources
	r.children = len(children(t))
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range ents {
		r.fds++
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "/memfd:") {
			r.memfds++
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	r.mappings = strings.Count(string(maps), "/memfd:")
	r.goroutines = runtime.NumGoroutine()
	return r
}

// settle waits (bounded) for the counts to come back to base: goroutines
// and the last reaping finish asynchronously.
func settle(t testing.TB, base resources) resources {
	var r resources
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r = count(t); r == base {
			break
		}
	}
	return r
}

// cycle starts the plugin, makes a call, and ends it: SIGKILL from
// outside (then Close), or a graceful Close every fourth cycle.
func cycle(t testing.TB, cfg host.Config, i int) {
	c, err := host.New(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	got, err := echo(context.Background(), c, "cycle")
	require.NoError(t, err)
	require.Equal(t, "cycle", got)
	if i%4 != 3 {
		pid := c.Pid()
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		require.Eventually(t, func() bool {
			_, err := echo(context.Background(), c, "dead")
			return errors.Is(err, plexus.ErrPeerDied) || errors.Is(err, plexus.ErrUnavailable)
		}, 5*time.Second, time.Millisecond)
	}
	require.NoError(t, c.Close())
}

func TestStartKillCyclesLeakNothing(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cycle(t, cfg, 3) // the spawner goroutine and its thread live for good
	base := settle(t, count(t))
	const n = 100
	t0 := time.Now()
	for i := range n {
		cycle(t, cfg, i)
	}
	took := time.Since(t0)
	after := settle(t, base)
	require.Equal(t, base, after, "before and after %d start/kill cycles", n)
	t.Logf("%d cycles in %v; children %d, fds %d, memfds %d, memfd mappings %d, goroutines %d before and after",
		n, took, base.children, base.fds, base.memfds, base.mappings, base.goroutines)
}
