package host_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// TestKillDuringConcurrentCalls: SIGKILL of the plugin while 1,000 calls
// are in flight fails every one of them with PeerDied (none hangs), and
// the restarted plugin serves the next call through the same client.
func TestKillDuringConcurrentCalls(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 3, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	pid := c.Pid()

	const n = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	failedAt := make(chan time.Time, n)
	for range n {
		go func() {
			err := c.Invoke(ctx, blockID, plexus.Raw("b"), nil)
			failedAt <- time.Now()
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == n }, 20*time.Second, 10*time.Millisecond,
		"all calls reach the plugin")

	killed := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	var last time.Time
	for i := range n {
		select {
		case err := <-errs:
			require.True(t, errors.Is(err, plexus.ErrPeerDied), "call %d: %v", i, err)
			if at := <-failedAt; at.After(last) {
				last = at
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls returned after the kill", i, n)
		}
	}
	t.Logf("SIGKILL to the last of %d calls failing with PeerDied: %v", n, last.Sub(killed))

	got, err := echo(ctx, c, "after restart")
	require.NoError(t, err)
	require.Equal(t, "after restart", got)
	require.NotEqual(t, pid, c.Pid())
	require.Equal(t, 1, c.Restarts())
	require.True(t, gone(pid))
	require.NotNil(t, buf.find("plugin died"))
}

// TestNoRestartFailsLaterCalls: without a restart policy, calls after the
// plugin's death fail at once with Unavailable, saying why.
func TestNoRestartFailsLaterCalls(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	require.NoError(t, syscall.Kill(c.Pid(), syscall.SIGKILL))
	require.Eventually(t, func() bool {
		_, err := echo(context.Background(), c, "x")
		return errors.Is(err, plexus.ErrUnavailable) && strings.Contains(err.Error(), "restart policy allows no further restart")
	}, 5*time.Second, 5*time.Millisecond)
}

// TestRestartLimit: a plugin that keeps dying is restarted with backoff
// up to the limit, then calls fail with Unavailable.
func TestRestartLimit(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 2, MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	c := start(t, cfg)
	for i := 0; i < 3; i++ {
		pid := c.Pid()
		require.NotZero(t, pid, "round %d", i)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		require.True(t, waitGone(pid, 5*time.Second))
		// Calls made before the host noticed the death may still fail
		// with PeerDied; once noticed, they wait for the restart.
		require.Eventually(t, func() bool { return c.Pid() != pid }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := echo(ctx, c, "x")
		cancel()
		if i < 2 {
			require.NoError(t, err, "round %d: restarted", i)
		} else {
			require.True(t, errors.Is(err, plexus.ErrUnavailable), "%v", err)
		}
	}
	require.Equal(t, 2, c.Restarts())
}

// TestStubbornPlugin: a plugin that ignores SIGTERM and does not exit
// after its link closed is killed after the grace period, with its
// children.
func TestStubbornPlugin(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Env = []string{modeEnv + "=stubborn", "GORACE=atexit_sleep_ms=0"}
	cfg.GracePeriod = 300 * time.Millisecond
	c := start(t, cfg)
	pid := c.Pid()
	child := int(callU64(t, c, spawnID))
	require.False(t, gone(child))

	t0 := time.Now()
	require.NoError(t, c.Close())
	took := time.Since(t0)
	require.True(t, gone(pid), "plugin survived Close")
	require.True(t, waitGone(child, time.Second), "the plugin's child survived Close")
	require.GreaterOrEqual(t, took, 2*cfg.GracePeriod, "SIGKILL came only after two grace periods")
	require.NotNil(t, buf.find("plugin ignored SIGTERM"))
	t.Logf("Close of a plugin ignoring SIGTERM: %v (grace %v)", took, cfg.GracePeriod)
}

// TestHostKilled: when the host dies by SIGKILL, its plugin and the
// plugin's children exit within a second.
func TestHostKilled(t *testing.T) { hostKilled(t, "") }

// TestHostKilledThroughForkingWrapper: the same when a shell that forked
// the plugin (and waits for it) stands between host and plugin: the
// plugin's parent-death signal is not armed then (it would speak of the
// shell), and the end of its control socket tells it instead.
func TestHostKilledThroughForkingWrapper(t *testing.T) { hostKilled(t, "fork") }

func hostKilled(t *testing.T, wrap string, env ...string) {
	cmd := exec.Command(exe(t))
	cmd.Env = append(append(os.Environ(), modeEnv+"=host", "HOSTTEST_WRAP="+wrap), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-reaped })

	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var pluginPid, childPid int
	select {
	case l := <-lines:
		_, err := fmt.Sscanf(l, "pids %d %d", &pluginPid, &childPid)
		require.NoError(t, err, "host said %q", l)
	case <-time.After(30 * time.Second):
		t.Fatal("the intermediate host did not report its plugin")
	}
	require.False(t, gone(pluginPid))
	require.False(t, gone(childPid))

	t0 := time.Now()
	require.NoError(t, cmd.Process.Kill())
	<-reaped
	require.True(t, waitGone(pluginPid, time.Second), "plugin outlived its host by a second")
	if !waitGone(childPid, time.Second) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", childPid))
		t.Fatalf("plugin's child outlived the host by a second: %s", b)
	}
	t.Logf("host SIGKILL to plugin and child gone: %v", time.Since(t0))
}

// hostMain is the intermediate host of TestHostKilled: it starts the echo
// plugin (through a shell that forks it, if wrap is "fork"), has it start
// a child, prints both pids and waits to be killed.
func hostMain(wrap string) int {
	exe, _ := os.Executable()
	cfg := host.Config{Path: exe, Name: "echo", Cookie: cookie, Link: testLink, Env: []string{modeEnv + "=echo"},
		Versions: map[uint32][]host.ServiceDesc{1: desc()},
		Logger:   hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn})}
	switch wrap {
	case "fork":
		cfg.Path, cfg.Args = "/bin/sh", []string{"-c", forkScript(exe)}
	case "python":
		// The Python plugin (python_linux_test.go), over shared memory.
		cfg.Path, cfg.Args, cfg.Link = pythonExe, []string{os.Getenv("HOSTTEST_PYPLUGIN")}, host.LinkSharedMemory
	}
	c, err := host.New(cfg)
	if err == nil {
		err = c.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	var resp, pid plexus.Raw
	if err := c.Invoke(context.Background(), spawnID, plexus.Raw("x"), &resp); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	if err := c.Invoke(context.Background(), pidID, plexus.Raw("x"), &pid); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	if wrap == "fork" && int(le64(pid)) == c.Pid() {
		fmt.Fprintln(os.Stderr, "host: the shell did not fork the plugin")
		return 1
	}
	fmt.Printf("pids %d %d\n", le64(pid), le64(resp))
	time.Sleep(time.Minute)
	return 0
}
