package host_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/shm"
)

// The Python plugin (python/plexus, written from SPEC.md) runs under
// Debian's interpreter, with Debian's python3-msgpack.
const pythonExe = "/usr/bin/python3"

// pythonDir is the repository's python/ directory.
func pythonDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "python"))
	require.NoError(t, err)
	return d
}

// needPython fails the test when the interpreter or its packages are
// missing, saying how to install them.
func needPython(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(pythonExe); err != nil {
		t.Fatalf("%s is missing: run python/install-deps.sh (%v)", pythonExe, err)
	}
	out, err := exec.Command(pythonExe, "-c", "import msgpack").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import msgpack: run python/install-deps.sh (as root) to install python3-msgpack: %v\n%s",
			pythonExe, err, out)
	}
}

// pyConfig is a client of python/testdata/echo_plugin.py, which serves
// hosttest.Echo as the Go test plugin does, over shared memory whatever
// PLEXUS_TEST_LINK says (the Python plugin speaks shared memory only).
func pyConfig(t testing.TB, buf *logBuf, env ...string) host.Config {
	needPython(t)
	cfg := config(t, buf)
	cfg.Link = host.LinkSharedMemory
	cfg.Path = pythonExe
	cfg.Args = []string{filepath.Join(pythonDir(t), "testdata", "echo_plugin.py")}
	cfg.Name = "python-echo"
	cfg.Env = env
	return cfg
}

func pyInvoke(ctx context.Context, c *host.Client, id uint64, req []byte) ([]byte, error) {
	var resp plexus.Raw
	err := c.Invoke(ctx, id, plexus.Raw(req), &resp)
	return resp, err
}

func pyPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	return b
}

// TestPythonUnitTests runs the Python package's own tests: the
// validators fed corrupt descriptors, stale generations, out-of-range
// offsets and garbage handshake messages.
func TestPythonUnitTests(t *testing.T) {
	needPython(t)
	cmd := exec.Command(pythonExe, "-m", "unittest", "discover", "-s", filepath.Join(pythonDir(t), "tests"), "-v")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	require.NoError(t, err, "python unit tests failed")
}

// TestPythonPlugin: the host starts the Python plugin, calls it with
// payloads of every placement (none, inline, slots of each class), checks
// its pid, makes 1,000 calls, and closes it: the plugin exits with status 0.
func TestPythonPlugin(t *testing.T) {
	var buf logBuf
	c := start(t, pyConfig(t, &buf))
	t.Cleanup(func() {
		if t.Failed() {
			pyDumpLogs(t, &buf)
		}
	})
	require.Equal(t, uint32(2), c.Version(), "highest common version")
	ctx := context.Background()
	for _, n := range []int{0, 1, 28, 29, 200, 5000, 60000} {
		req := pyPattern(n)
		got, err := pyInvoke(ctx, c, echoID, req)
		require.NoError(t, err, "echo of %d bytes", n)
		require.True(t, bytes.Equal(req, got), "echo of %d bytes came back as %d bytes", n, len(got))
	}
	pid := c.Pid()
	require.Equal(t, uint64(pid), callU64(t, c, pidID), "the plugin is the python process the host started")
	for i := range 1000 {
		req := pyPattern(i % 300)
		got, err := pyInvoke(ctx, c, echoID, req)
		require.NoError(t, err, "call %d", i)
		require.True(t, bytes.Equal(req, got), "call %d", i)
	}
	require.NotNil(t, buf.find("linked"), "the plugin's hclog lines are forwarded")

	require.NoError(t, c.Close())
	require.NoError(t, c.ExitErr())
	require.True(t, gone(pid), "plugin still running after Close")
	exit := buf.find("plugin exited")
	require.NotNil(t, exit)
	require.Equal(t, "exit status 0", exit["status"], "the plugin left by itself after the host's shutdown notice")
}

// TestPythonPluginStatuses: a described method without a handler, an
// unknown method, a deadline and a cancellation come back as statuses,
// and the link goes on.
func TestPythonPluginStatuses(t *testing.T) {
	var buf logBuf
	c := start(t, pyConfig(t, &buf))
	ctx := context.Background()

	_, err := pyInvoke(ctx, c, plexus.MethodID("pytest.Streams", "Later"), []byte("x"))
	require.Equal(t, plexus.Unimplemented, plexus.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "pytest.Streams.Later")

	// CallHost calls the host, which serves no services here: the host's
	// UNIMPLEMENTED comes back through the plugin.
	_, err = pyInvoke(ctx, c, callHostID, []byte("x"))
	require.Equal(t, plexus.Unimplemented, plexus.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "unknown service")

	_, err = pyInvoke(ctx, c, plexus.MethodID(svcName, "NoSuchMethod"), []byte("x"))
	require.Equal(t, plexus.Unimplemented, plexus.CodeOf(err), "%v", err)

	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = pyInvoke(dctx, c, blockID, []byte("b"))
	cancel()
	require.Equal(t, plexus.DeadlineExceeded, plexus.CodeOf(err), "%v", err)

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := pyInvoke(cctx, c, blockID, []byte("b")); done <- err }()
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.Equal(t, plexus.Canceled, plexus.CodeOf(<-done))
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == 0 }, 5*time.Second, 5*time.Millisecond,
		"the RESET cancelled the handler")

	got, err := pyInvoke(ctx, c, echoID, []byte("still linked"))
	require.NoError(t, err)
	require.Equal(t, "still linked", string(got))
	require.NoError(t, c.Close())
	require.NoError(t, c.ExitErr())
}

// TestPythonPluginPressure: a small segment (a ring of 4 descriptors, 2
// slots per class), windows above the initial ones (the plugin grants the
// difference) and a fast keepalive, under concurrent calls.
func TestPythonPluginPressure(t *testing.T) {
	var buf logBuf
	cfg := pyConfig(t, &buf)
	cfg.Segment = shm.Config{RingCapacity: 4,
		HostClasses:   []shm.Class{{Size: 256, Count: 2}, {Size: 64 << 10, Count: 2}},
		PluginClasses: []shm.Class{{Size: 256, Count: 2}, {Size: 64 << 10, Count: 2}}}
	cfg.ChannelWindow = 256 << 10
	cfg.LinkWindow = 4 << 20
	// The host pings after 50 ms of silence and gives up 1 s later: a
	// plugin that did not answer PING would be declared dead.
	cfg.KeepaliveIdle = 50 * time.Millisecond
	cfg.KeepaliveTimeout = time.Second
	c := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				n := []int{0, 20, 200, 3000, 60000}[(g+i)%5]
				req := pyPattern(n)
				got, err := pyInvoke(ctx, c, echoID, req)
				if err == nil && !bytes.Equal(got, req) {
					err = errors.New("echo differs")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	time.Sleep(1500 * time.Millisecond) // idle: the host pings, the plugin answers
	got, err := pyInvoke(ctx, c, echoID, []byte("after the pings"))
	require.NoError(t, err)
	require.Equal(t, "after the pings", string(got))
	require.NoError(t, c.Close())
	require.NoError(t, c.ExitErr())
}

// TestPythonPluginKilled: SIGKILL of the Python plugin fails a call in
// flight with PEER_DIED at once.
func TestPythonPluginKilled(t *testing.T) {
	var buf logBuf
	c := start(t, pyConfig(t, &buf))
	pid := c.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := pyInvoke(ctx, c, blockID, []byte("b")); done <- err }()
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == 1 }, 5*time.Second, 5*time.Millisecond)

	killed := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	select {
	case err := <-done:
		require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
		t.Logf("SIGKILL to PEER_DIED: %v", time.Since(killed))
		require.Less(t, time.Since(killed), 2*time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("the call in flight did not fail after the plugin was killed")
	}
	_, err := pyInvoke(context.Background(), c, echoID, []byte("x"))
	require.Error(t, err, "a call after the plugin's death")
	require.True(t, waitGone(pid, 5*time.Second))
}

// TestPythonPluginRestarted: the Python plugin killed with SIGKILL during
// calls fails them with PEER_DIED, and the host restarts it: the next call
// through the same client is served by a new process.
func TestPythonPluginRestarted(t *testing.T) {
	var buf logBuf
	cfg := pyConfig(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 3, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	pid := c.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() { _, err := pyInvoke(ctx, c, blockID, []byte("b")); errs <- err }()
	}
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == n }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	for i := range n {
		select {
		case err := <-errs:
			require.True(t, errors.Is(err, plexus.ErrPeerDied), "call %d: %v", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls returned after the kill", i, n)
		}
	}
	require.Eventually(t, func() bool {
		got, err := pyInvoke(ctx, c, echoID, []byte("again"))
		return err == nil && string(got) == "again"
	}, 20*time.Second, 20*time.Millisecond, "the restarted plugin serves calls")
	require.NotEqual(t, pid, c.Pid(), "a new process")
	require.True(t, waitGone(pid, 5*time.Second))
}

// TestPythonPluginHostKilled: when the host dies by SIGKILL, the Python
// plugin and its child exit within a second (parent-death signal and the
// control socket's end, as for a Go plugin).
func TestPythonPluginHostKilled(t *testing.T) {
	needPython(t)
	hostKilled(t, "python", "HOSTTEST_PYPLUGIN="+filepath.Join(pythonDir(t), "testdata", "echo_plugin.py"))
}

// TestPythonPluginSigterm: SIGTERM that is not the host's death (the link
// stays up) makes the plugin drain the link and exit with status 0.
func TestPythonPluginSigterm(t *testing.T) {
	var buf logBuf
	c := start(t, pyConfig(t, &buf))
	pid := c.Pid()
	got, err := pyInvoke(context.Background(), c, echoID, []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	require.True(t, waitGone(pid, 5*time.Second), "the plugin left after SIGTERM")
	require.Eventually(t, func() bool { return buf.find("plugin exited") != nil }, 5*time.Second, 10*time.Millisecond)
	// The plugin drains and exits 0; the host, seeing the link end, kills
	// the process group of a plugin that has not exited yet, which may
	// come first on a loaded machine: either ending is the host's.
	require.Contains(t, []string{"exit status 0", "signal: killed"}, buf.find("plugin exited")["status"])
	require.NotNil(t, buf.find("SIGTERM; draining the link"), "the plugin drained the link")
}

// TestPythonPluginRefusals: the handshake's refusals, each with its code.
func TestPythonPluginRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		code      plexus.Code
		says      string
	}{
		{"cookie", "HOSTTEST_COOKIE=not-the-cookie", plexus.Unauthenticated, "cookie mismatch"},
		{"version", "HOSTTEST_VERSIONS=3,4", plexus.VersionMismatch, "no common plugin version"},
		{"signature", "HOSTTEST_SIG=0x9999", plexus.VersionMismatch, "signature hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf logBuf
			c, err := host.New(pyConfig(t, &buf, tc.env))
			require.NoError(t, err)
			defer c.Close()
			err = c.Start(context.Background())
			require.Error(t, err)
			require.Equal(t, tc.code, plexus.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), tc.says)
		})
	}
}

func pyDumpLogs(t *testing.T, buf *logBuf) {
	buf.mu.Lock()
	defer buf.mu.Unlock()
	t.Logf("%s", buf.b.String())
}
