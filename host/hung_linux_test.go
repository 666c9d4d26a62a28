package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// TestHungPluginRestarted: a plugin that is alive but does not answer
// (SIGSTOP) is declared dead by the keepalive, its call in flight fails
// with PeerDied, and it is killed and restarted.
func TestHungPluginRestarted(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.KeepaliveIdle = 100 * time.Millisecond
	cfg.KeepaliveTimeout = 200 * time.Millisecond
	cfg.Restart = host.RestartPolicy{MaxRestarts: 1, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	pid := c.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	// kill(2) returns before every thread has stopped: a thread polling
	// the ring on the other core answers a call first (seen: 2 runs in 50).
	require.True(t, waitStopped(pid, 5*time.Second), "the plugin did not stop")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := echo(ctx, c, "to a stopped plugin")
	require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
	require.ErrorContains(t, err, "keepalive")
	t.Logf("stopped plugin declared dead after %v (idle %v + timeout %v)", time.Since(t0), cfg.KeepaliveIdle, cfg.KeepaliveTimeout)

	require.True(t, waitGone(pid, 5*time.Second), "the hung plugin was not killed")
	got, err := echo(ctx, c, "restarted")
	require.NoError(t, err)
	require.Equal(t, "restarted", got)
	require.NotEqual(t, pid, c.Pid())
	require.Equal(t, 1, c.Restarts())
}

// TestKeepaliveKeepsHealthyPlugin: pings do not kill a plugin that is
// merely slow to answer one call while the link stays responsive.
func TestKeepaliveKeepsHealthyPlugin(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.KeepaliveIdle = 50 * time.Millisecond
	cfg.KeepaliveTimeout = 200 * time.Millisecond
	c := start(t, cfg)
	pid := c.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := c.Invoke(ctx, blockID, plexus.Raw("b"), nil) // idle link for 700 ms, pings answered
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
	got, err := echo(context.Background(), c, "alive")
	require.NoError(t, err)
	require.Equal(t, "alive", got)
	require.Equal(t, pid, c.Pid())
	require.Equal(t, 0, c.Restarts())
}

// waitStopped waits until every thread of pid is in the stopped state.
func waitStopped(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(pid) {
			return true
		}
	}
	return false
}

func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses
		// and may itself hold spaces or parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}
