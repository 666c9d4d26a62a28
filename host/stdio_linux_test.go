package host_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

func callString(t testing.TB, c *host.Client, id uint64) string {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), id, plexus.Raw("x"), &resp))
	return string(resp)
}

func realPath(t testing.TB, p string) string {
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

// TestDir: the plugin runs in Config.Dir; a relative Path is found
// there, the checksum's file included.
func TestDir(t *testing.T) {
	dir := t.TempDir()
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Dir = dir
	c := start(t, cfg)
	require.Equal(t, realPath(t, dir), realPath(t, callString(t, c, getwdID)))

	require.NoError(t, os.Symlink(exe(t), filepath.Join(dir, "plugin")))
	b, err := os.ReadFile(exe(t))
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	cfg.Path, cfg.Checksum = "./plugin", sum[:]
	c = start(t, cfg)
	require.Equal(t, realPath(t, dir), realPath(t, callString(t, c, getwdID)))
}

// TestStdin: the plugin reads Config.Stdin, a reader or a file; without
// one it reads end of file at once.
func TestStdin(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Stdin = strings.NewReader("from a reader\n")
	c := start(t, cfg)
	require.Equal(t, "from a reader\n", callString(t, c, stdinID))

	f, err := os.CreateTemp(t.TempDir(), "stdin")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("from a file\n")
	require.NoError(t, err)
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	cfg.Stdin = f
	c = start(t, cfg)
	require.Equal(t, "from a file\n", callString(t, c, stdinID))

	cfg.Stdin = nil
	c = start(t, cfg)
	require.Equal(t, "", callString(t, c, stdinID))
}

// TestStdinAcrossRestart: after a restart the new instance reads on from
// where the reader stands.
func TestStdinAcrossRestart(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Stdin = struct{ *os.File }{r} // a reader that is not an *os.File
	cfg.Restart = host.RestartPolicy{MaxRestarts: 1, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	pid := c.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return c.Restarts() == 1 && c.Pid() != 0 }, 5*time.Second, 5*time.Millisecond)
	_, err = w.WriteString("after the restart\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, "after the restart\n", callString(t, c, stdinID))
}

// TestOutputWriters: Config.Stdout and Stderr receive the plugin's raw
// output, which is still forwarded into the logger; all of it by the time
// Close returns. The two may be one writer.
func TestOutputWriters(t *testing.T) {
	var buf, stdout, stderr, both logBuf
	cfg := config(t, &buf)
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	c := start(t, cfg)
	require.NoError(t, c.Invoke(context.Background(), logID, u64(10), nil))
	require.NoError(t, c.Close())
	require.Equal(t, "plain stdout line\nlong:xxxxxxxxxx\n", stdout.b.String())
	require.Contains(t, stderr.b.String(), `"@message":"structured entry"`)
	require.NotNil(t, buf.find("plain stdout line"), "and forwarded to the logger")
	require.NotNil(t, buf.find("structured entry"))

	cfg.Stdout, cfg.Stderr = &both, &both
	c = start(t, cfg)
	require.NoError(t, c.Invoke(context.Background(), logID, u64(10), nil))
	require.NoError(t, c.Close())
	// Both pipes into one writer: each line whole, stdout's in their
	// order; the stderr entry may come between them (the plugin writes
	// it between the two, and the pipes are read apart).
	out := both.b.String()
	first, second := strings.Index(out, "plain stdout line\n"), strings.Index(out, "long:xxxxxxxxxx\n")
	require.True(t, first >= 0 && second > first, "%q", out)
	require.Contains(t, out, `"@message":"structured entry"`)
}

func requireOpen(t *testing.T, c *host.Client) {
	t.Helper()
	select {
	case <-c.Exited():
		t.Fatalf("Exited closed while the plugin runs or will restart (%v)", c.ExitErr())
	default:
	}
	require.NoError(t, c.ExitErr())
}

func waitExited(t *testing.T, c *host.Client) {
	t.Helper()
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited not closed")
	}
}

// TestExitedAfterKill: Exited closes when the plugin died by SIGKILL and
// may not be restarted, not before; ExitErr names the signal.
func TestExitedAfterKill(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 1, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	requireOpen(t, c)
	pid := c.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return c.Restarts() == 1 && c.Pid() != 0 }, 5*time.Second, 5*time.Millisecond)
	requireOpen(t, c) // restarted: not ended

	pid = c.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitExited(t, c)
	require.True(t, gone(pid))
	err := c.ExitErr()
	require.ErrorContains(t, err, "signal: killed")
	require.ErrorContains(t, err, "pid "+itoa(pid))
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%T", err)
	require.NoError(t, c.Close())
	require.Equal(t, err, c.ExitErr(), "Close does not change why the client ended")
}

// TestExitedAfterClose: Exited is closed when Close returns; ExitErr is
// nil after a plugin that left with status 0, and names the signal after
// Kill.
func TestExitedAfterClose(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	requireOpen(t, c)
	require.NoError(t, c.Close())
	waitExited(t, c)
	require.NoError(t, c.ExitErr())

	c = start(t, config(t, &buf))
	c.Kill()
	waitExited(t, c)
	require.ErrorContains(t, c.ExitErr(), "signal: killed")

	c, err := host.New(config(t, &buf))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	waitExited(t, c)
	require.NoError(t, c.ExitErr(), "closed before it started: nothing failed")
}

// TestCloseLogsNoFailure: a normal Close logs nothing that reads as a
// failure (no warning, no error, no PEER_DIED at any level), on the
// host's side and in what the plugin logs.
func TestCloseLogsNoFailure(t *testing.T) {
	for range 5 { // the two sides' ends race; try a few times
		var buf logBuf
		c := start(t, config(t, &buf))
		_, err := echo(context.Background(), c, "x")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NotNil(t, buf.find("plugin exited"))
		require.Empty(t, failures(&buf))
	}
}
