package retry_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/plexustest"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/retry"
)

// syncBuf collects the log of a test host or plugin, shown if the test fails.
type syncBuf = plexustest.LogBuffer

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}

type result struct {
	resp plexus.Raw
	err  error
}

// TestPluginKilledMidCall: a plugin restarted by its host.Client is
// SIGKILLed while a call of an idempotent method and one of a method
// that is not are blocked in it. Through a retry.Conn the idempotent
// call is retried on the new instance, with the key the dead one saw,
// and succeeds; the other fails with PEER_DIED, as the host gave it; a
// call made while the plugin restarts succeeds on the new instance.
func TestPluginKilledMidCall(t *testing.T) {
	var log syncBuf
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", log.String())
		}
	})
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	link := host.LinkDefault
	if os.Getenv("PLEXUS_TEST_LINK") == "socket" { // as the host package's tests
		link = host.LinkSocket
	}
	c, err := host.New(host.Config{
		Link: link, Path: exe, Name: "retrytest", Cookie: cookie,
		// A race-enabled plugin sleeps 1 s at exit unless told not to.
		Env:      []string{modeEnv + "=plugin", dirEnv + "=" + dir, "GORACE=atexit_sleep_ms=0"},
		Versions: map[uint32][]host.ServiceDesc{1: {pluginDesc}},
		// The restart waits 500 ms, so that the test can call while the
		// plugin is down.
		Restart:      host.RestartPolicy{MaxRestarts: 2, MinBackoff: 500 * time.Millisecond, MaxBackoff: time.Second},
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Output: &log, Level: hclog.Debug}),
		StartTimeout: 20 * time.Second,
		GracePeriod:  2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))

	conn, err := retry.NewConn(c, retry.Config{
		Services: []plexus.ServiceDesc{pluginDesc},
		Default:  retry.Policy{MaxAttempts: 5, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	})
	require.NoError(t, err)

	call := func(method uint64, req string) <-chan result {
		out := make(chan result, 1)
		go func() {
			var r result
			r.err = conn.Invoke(ctx, method, plexus.Raw(req), &r.resp)
			out <- r
		}()
		return out
	}
	pending := func() uint64 {
		var resp plexus.Raw
		if err := c.Invoke(ctx, pendingID, plexus.Raw{}, &resp); err != nil || len(resp) != 8 {
			return 0
		}
		return binary.LittleEndian.Uint64(resp)
	}

	get := call(blockGetID, "g")
	put := call(blockPutID, "p")
	require.Eventually(t, func() bool { return pending() == 2 }, 20*time.Second, 10*time.Millisecond,
		"both calls are blocked in the plugin")
	pid := c.Pid()
	firstKey, err := os.ReadFile(filepath.Join(dir, "BlockGet-"+strconv.Itoa(pid)))
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{32}$`, string(firstKey))
	putKey, err := os.ReadFile(filepath.Join(dir, "BlockPut-"+strconv.Itoa(pid)))
	require.NoError(t, err)
	require.Empty(t, putKey, "BlockPut is not idempotent: no key")

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	// Released only once the killed plugin is gone, so that its own
	// handlers cannot answer: the retried call is answered by the next.
	require.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, os.WriteFile(filepath.Join(dir, releaseAt), nil, 0o600))

	select {
	case r := <-put:
		require.True(t, errors.Is(r.err, plexus.ErrPeerDied), "BlockPut: %v", r.err)
		var re *retry.Error
		require.False(t, errors.As(r.err, &re), "one attempt, returned as the host gave it: %v", r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("BlockPut did not return after the kill")
	}

	// The host restarts the plugin 500 ms after its death: this call is
	// made while none runs.
	require.Equal(t, 0, c.Restarts(), "the plugin has not restarted yet")
	var echoed plexus.Raw
	require.NoError(t, conn.Invoke(ctx, echoID, plexus.Raw("during restart"), &echoed))
	require.Equal(t, "during restart", string(echoed))
	require.Equal(t, 1, c.Restarts())
	newPid := c.Pid()
	require.NotEqual(t, pid, newPid)

	select {
	case r := <-get:
		require.NoError(t, r.err, "BlockGet is retried after PEER_DIED")
		fields := strings.Fields(string(r.resp))
		require.Len(t, fields, 2, "%q", r.resp)
		require.Equal(t, strconv.Itoa(newPid), fields[0], "answered by the restarted plugin")
		require.Equal(t, string(firstKey), fields[1], "the retry carries the first attempt's key")
	case <-time.After(30 * time.Second):
		t.Fatal("BlockGet did not return after the restart")
	}
	secondKey, err := os.ReadFile(filepath.Join(dir, "BlockGet-"+strconv.Itoa(newPid)))
	require.NoError(t, err)
	require.Equal(t, firstKey, secondKey)
}
