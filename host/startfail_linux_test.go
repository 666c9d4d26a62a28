package host_test

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// requireNoStutter checks that no message in msg says a label twice in
// its leading chain of labels ("plugin: plugin: link:", "host: x:
// handshake: plexus: PEER_DIED: handshake:"). Each line, and each part of
// a line after "; ", is a message.
func requireNoStutter(t testing.TB, msg string) {
	t.Helper()
	for _, line := range strings.Split(msg, "\n") {
		for _, part := range strings.Split(line, "; ") {
			seen := map[string]bool{}
			for _, label := range strings.Split(strings.TrimSpace(part), ": ") {
				if label == "" || strings.ContainsAny(label, " \t") {
					break // the chain of labels ends at the first phrase
				}
				if seen[label] {
					t.Fatalf("%q says %q twice", part, label)
				}
				seen[label] = true
			}
		}
	}
}

// infoConfig is config with the host logging at Info, as a newcomer's
// host does: the plugin's plain stderr lines (Debug) are not logged.
func infoConfig(t testing.TB, buf *logBuf, env ...string) host.Config {
	cfg := config(t, buf, env...)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Output: buf, JSONFormat: true, Level: hclog.Info,
		Mutex: &sync.Mutex{}})
	return cfg
}

// TestStartFailureQuotesStderr: a plugin that dies at start (exit status
// 3, its reasons on stderr) fails Start with an error that quotes its last
// stderr lines, bounded, though the host logs at Info.
func TestStartFailureQuotesStderr(t *testing.T) {
	var buf logBuf
	cfg := infoConfig(t, &buf)
	cfg.Env = []string{modeEnv + "=failstart", "GORACE=atexit_sleep_ms=0"}
	err := startFails(t, cfg)
	msg := err.Error()
	require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
	require.Contains(t, msg, "exited (exit status 3) without answering the handshake")
	require.Contains(t, msg, "its last lines on stderr:")
	require.Contains(t, msg, "failstart line 29", "the last line is quoted")
	require.NotContains(t, msg, "failstart line 00", "the first is not: the quote is bounded")
	require.Less(t, len(msg), 6<<10, "at most 4 KiB of stderr")
	require.Nil(t, buf.find("failstart line"), "the lines were not logged at Info: only the error shows them")
}

// TestNotAPlugin: programs that are not plexus plugins (they exit at once
// without answering the handshake) fail Start with a hint saying so.
func TestNotAPlugin(t *testing.T) {
	for _, tc := range []struct{ name, path, mode string }{
		{"true", "/bin/true", ""},
		{"cat", "/bin/cat", ""}, // its stdin is empty: it exits at once
		{"go-program", "", "exit0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf logBuf
			cfg := infoConfig(t, &buf)
			if tc.path != "" {
				if _, err := os.Stat(tc.path); err != nil {
					t.Skip(err)
				}
				cfg.Path = tc.path
			} else {
				cfg.Env = []string{modeEnv + "=" + tc.mode, "GORACE=atexit_sleep_ms=0"}
			}
			c, err := host.New(cfg)
			require.NoError(t, err)
			err = startFailsWith(t, c)
			require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
			require.ErrorContains(t, err, cfg.Path+" exited (exit status 0) without answering the handshake")
			require.ErrorContains(t, err, "does not look like a plexus plugin")
			require.ErrorContains(t, err, "must call plugin.Serve")
			// The client has ended, for that reason.
			select {
			case <-c.Exited():
			default:
				t.Fatal("Exited not closed after a failed Start")
			}
			require.Equal(t, err, c.ExitErr())
		})
	}
}

// TestStartTimeout: a program that never answers the handshake fails
// Start after StartTimeout, naming that setting, and is killed.
func TestStartTimeout(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Env = []string{modeEnv + "=sleeper", "GORACE=atexit_sleep_ms=0"}
	cfg.StartTimeout = 300 * time.Millisecond
	t0 := time.Now()
	err := startFails(t, cfg)
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
	require.ErrorContains(t, err, "did not answer the handshake within Config.StartTimeout (300ms)")
	require.ErrorContains(t, err, "raise StartTimeout")
	require.Less(t, time.Since(t0), 5*time.Second)
}
