package host_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// forkScript runs exe from sh so that the shell forks it and waits: the
// command after it keeps any shell from executing it in its place.
func forkScript(exe string) string { return quote(exe) + "; exit $?" }

// wrapped is a client of the test plugin started by sh -c script.
func wrapped(t testing.TB, buf *logBuf, script string) host.Config {
	cfg := config(t, buf)
	cfg.Path, cfg.Args = "/bin/sh", []string{"-c", script}
	return cfg
}

// ppid reads a process's parent from /proc.
func ppid(t testing.TB, pid int) int {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, ok := atoi(f[1])
	require.True(t, ok, "%s", b)
	return n
}

// failures returns the logged entries that read as failures: at Warn or
// Error, or naming PEER_DIED in any field.
func failures(buf *logBuf) []map[string]any {
	var out []map[string]any
	for _, e := range buf.entries() {
		lvl, _ := e["@level"].(string)
		bad := lvl == "warn" || lvl == "error"
		for _, v := range e {
			if s, ok := v.(string); ok && strings.Contains(s, "PEER_DIED") {
				bad = true
			}
		}
		if bad {
			out = append(out, e)
		}
	}
	return out
}

// TestWrapperExecs: sh -c 'exec ./plugin', through a chain of programs
// that execute each other (sh, then env): the plugin keeps the pid of the
// host's child, works, and closes cleanly.
func TestWrapperExecs(t *testing.T) {
	var buf logBuf
	c := start(t, wrapped(t, &buf, "exec env HOSTTEST_VIA=env "+quote(exe(t))))
	got, err := echo(context.Background(), c, "through exec")
	require.NoError(t, err)
	require.Equal(t, "through exec", got)
	pid := c.Pid()
	require.Equal(t, uint64(pid), callU64(t, c, pidID), "the plugin is the host's child")
	require.NoError(t, c.Close())
	require.True(t, gone(pid))
	require.NoError(t, c.ExitErr())
	require.Empty(t, failures(&buf), "a normal Close logs no failure")
}

// TestWrapperForks: a shell that forks the plugin and waits for it (as
// sh -c ./plugin may, go-plugin's examples start plugins so) is accepted:
// the host's child is the shell, the plugin its child in the host's
// process group; calls work, a normal Close ends both without a failure
// logged, and a plugin killed behind the shell is noticed as dead.
func TestWrapperForks(t *testing.T) {
	var buf logBuf
	c := start(t, wrapped(t, &buf, forkScript(exe(t))))
	got, err := echo(context.Background(), c, "through a fork")
	require.NoError(t, err)
	require.Equal(t, "through a fork", got)
	shell, plugin := c.Pid(), int(callU64(t, c, pidID))
	require.NotEqual(t, shell, plugin, "the shell forked the plugin")
	require.Equal(t, shell, ppid(t, plugin))
	pgid, err := unix.Getpgid(plugin)
	require.NoError(t, err)
	require.Equal(t, shell, pgid, "the plugin is in the group the host made")
	require.NoError(t, c.Close())
	require.True(t, gone(shell))
	require.True(t, waitGone(plugin, time.Second))
	require.NoError(t, c.ExitErr())
	require.Empty(t, failures(&buf), "a normal Close logs no failure")

	// SIGKILL of the plugin behind the shell: the host learns at once
	// (the shell holds the plugin's end of the control socket, the
	// plugin's life word tells) and ends the client.
	c = start(t, wrapped(t, &logBuf{}, forkScript(exe(t))))
	plugin = int(callU64(t, c, pidID))
	require.NoError(t, syscall.Kill(plugin, syscall.SIGKILL))
	select {
	case <-c.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("the death of a plugin behind a shell went unnoticed")
	}
	_, err = echo(context.Background(), c, "x")
	require.True(t, errors.Is(err, plexus.ErrUnavailable), "%v", err)
}

// TestWrapperForksLimits: resource limits reach a plugin that a shell
// forked, whenever the fork happened.
func TestWrapperForksLimits(t *testing.T) {
	var buf logBuf
	cfg := wrapped(t, &buf, forkScript(exe(t)))
	cfg.Limits = host.Limits{OpenFiles: 77}
	c := start(t, cfg)
	require.NotEqual(t, uint64(c.Pid()), callU64(t, c, pidID))
	require.Equal(t, uint64(77), callU64(t, c, limitID))
}

// TestWrapperDetachedRefused: a plugin run in the background (its shell
// exits at once) is not under its host any more; it refuses to start,
// saying so in words for its author, in its log and in Start's error.
func TestWrapperDetachedRefused(t *testing.T) {
	var buf logBuf
	err := startFails(t, wrapped(t, &buf, quote(exe(t))+" &"))
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.FailedPrecondition}), "%v", err)
	for _, want := range []string{"plugin refused the link", "does not run under its host",
		"sh -c 'exec ./plugin'", "runs it in the background"} {
		require.ErrorContains(t, err, want)
	}
	require.Equal(t, 1, strings.Count(err.Error(), "does not run under its host"), "said once: %v", err)
	e := buf.find("refusing to start")
	require.NotNil(t, e, "the plugin's log says why")
	require.Equal(t, "error", e["@level"])
	require.Contains(t, e["reason"], "sh -c 'exec ./plugin'")
}
