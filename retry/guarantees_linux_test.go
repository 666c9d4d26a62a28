package retry_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/retry"
	"github.com/plexus-ipc/plexus/session"
)

// guaranteeConfig is a client of the test plugin (spawned, with dir) that
// restarts it at once.
func guaranteeConfig(t *testing.T, dir string, log io.Writer) host.Config {
	exe, err := os.Executable()
	require.NoError(t, err)
	return host.Config{
		Path: exe, Name: "guarantee", Cookie: cookie,
		Env:          []string{modeEnv + "=plugin", dirEnv + "=" + dir, "GORACE=atexit_sleep_ms=0"},
		Versions:     map[uint32][]host.ServiceDesc{1: {pluginDesc}},
		Restart:      host.RestartPolicy{MaxRestarts: 10, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Output: log, Level: hclog.Debug}),
		StartTimeout: 20 * time.Second,
		GracePeriod:  2 * time.Second,
	}
}

// retrying wraps a host Client or Pool in a retry policy that knows the
// test service's idempotent methods.
func retrying(t *testing.T, conn session.Conn) *retry.Conn {
	c, err := retry.NewConn(conn, retry.Config{
		Services: []plexus.ServiceDesc{pluginDesc},
		Default:  retry.Policy{MaxAttempts: 8, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	})
	require.NoError(t, err)
	return c
}

// effects returns the lines of dir/effects: one idempotency key per run
// of the Effect handler.
func effects(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "effects"))
	require.NoError(t, err)
	return strings.Fields(string(b))
}

// TestIdempotentRetryAfterDeath: the plugin dies after an idempotent
// call's handler ran (its side effect done) and before the answer left.
// The retry, with the same idempotency key, runs on the restarted
// instance and returns the same result; the cache died with the process,
// so the handler ran again: two side effects with one key, as DESIGN.md
// "Delivery guarantees" says of a plugin's death.
func TestIdempotentRetryAfterDeath(t *testing.T) {
	var log syncBuf
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "die"), nil, 0o600))
	c, err := host.New(guaranteeConfig(t, dir, &log))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	first := c.Pid()

	var resp plexus.Raw
	require.NoError(t, retrying(t, c).Invoke(ctx, effectID, plexus.Raw("x"), &resp), "log:\n%s", log.String())
	require.Equal(t, "done:x", string(resp))
	require.NotEqual(t, first, c.Pid(), "answered by the restarted instance")
	runs := effects(t, dir)
	require.Len(t, runs, 2, "the dead instance's cache died with it: the handler ran again")
	require.Equal(t, runs[0], runs[1], "one logical call: one key")
	require.Regexp(t, `^[0-9a-f]{32}$`, runs[0])
}

// TestIdempotentRetryKeptCache: the link to an attached plugin breaks
// after an idempotent call's handler ran and before its answer arrived;
// the plugin process lives on. The host links again, the retry carries
// the same key, and the plugin's cache answers it with the first result:
// the side effect happened once.
func TestIdempotentRetryKeptCache(t *testing.T) {
	var log syncBuf
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	plug := exec.Command(exe)
	plug.Env = append(os.Environ(), modeEnv+"=listen", dirEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	require.NoError(t, plug.Start())
	t.Cleanup(func() { _ = plug.Process.Kill(); _ = plug.Wait() })
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "plugin.sock"))
		return err == nil
	}, 20*time.Second, 5*time.Millisecond, "the plugin listens")
	px := newProxy(t, filepath.Join(dir, "proxy.sock"), filepath.Join(dir, "plugin.sock"))

	cfg := guaranteeConfig(t, dir, &log)
	cfg.Path, cfg.Env = "", nil
	cfg.Attach = &host.Attach{Network: "unix", Address: px.addr}
	c, err := host.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "stall"), nil, 0o600))
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = retrying(t, c).Invoke(ctx, effectID, plexus.Raw("y"), &r.resp)
		done <- r
	}()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran"))
		return err == nil
	}, 20*time.Second, time.Millisecond, "the handler ran")
	px.cut() // before the answer: the handler waits 300 ms after its effect
	r := <-done
	require.NoError(t, r.err, "log:\n%s", log.String())
	require.Equal(t, "done:y", string(r.resp))
	require.GreaterOrEqual(t, c.Restarts(), 1, "the host linked again")
	require.Len(t, effects(t, dir), 1, "the retry was answered from the plugin's cache: the side effect happened once")
}

// TestFailoverStickyLeader: the leader of a StickyLeader pool is killed
// during 64 concurrent idempotent calls and 8 calls that are not; through
// a retry.Conn every idempotent call succeeds on the new leader, and the
// others fail with PEER_DIED (they may have run).
func TestFailoverStickyLeader(t *testing.T) {
	var log syncBuf
	dir := t.TempDir()
	cfg := guaranteeConfig(t, dir, &log)
	cfg.Restart.MinBackoff = 200 * time.Millisecond
	p, err := host.NewPool(cfg, host.PoolConfig{Size: 3, Dispatch: host.StickyLeader})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	conn := retrying(t, p)
	leader := p.Leader()
	oldPid := leader.Pid()

	const gets, puts = 64, 8
	results := make(chan result, gets+puts)
	putErrs := make(chan error, puts)
	var wg sync.WaitGroup
	for i := range gets + puts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r result
			if i < gets {
				r.err = conn.Invoke(ctx, blockGetID, plexus.Raw("g"), &r.resp)
				results <- r
				return
			}
			putErrs <- conn.Invoke(ctx, blockPutID, plexus.Raw("p"), &r.resp)
		}()
	}
	require.Eventually(t, func() bool {
		var resp plexus.Raw
		return leader.Invoke(ctx, pendingID, plexus.Raw{}, &resp) == nil && binary.LittleEndian.Uint64(resp) == gets+puts
	}, 30*time.Second, 10*time.Millisecond, "every call is in the leader")

	require.NoError(t, syscall.Kill(oldPid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return gone(oldPid) }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, os.WriteFile(filepath.Join(dir, releaseAt), nil, 0o600))
	wg.Wait()
	close(results)
	close(putErrs)

	newLeader := p.Leader()
	require.NotEqual(t, leader, newLeader)
	for r := range results {
		require.NoError(t, r.err, "an idempotent call fails over")
		require.Equal(t, strconv.Itoa(newLeader.Pid()), strings.Fields(string(r.resp))[0], "answered by the new leader")
	}
	for err := range putErrs {
		require.True(t, errors.Is(err, plexus.ErrPeerDied), "a call that is not idempotent is not retried: %v", err)
	}
}

// proxy forwards Unix socket connections to the plugin's socket, and can
// cut every connection it carries (a link that breaks while both ends
// live).
type proxy struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, addr, to string) *proxy {
	ln, err := net.Listen("unix", addr)
	require.NoError(t, err)
	px := &proxy{addr: addr}
	t.Cleanup(func() { ln.Close(); px.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", to)
			if err != nil {
				in.Close()
				continue
			}
			px.mu.Lock()
			px.conns = append(px.conns, in, out)
			px.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return px
}

func (px *proxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		c.Close()
	}
	px.conns = nil
}

// TestIdempotentRetryOnAnotherMember: in a pool, the member that ran an
// idempotent call dies before answering; the retry runs on another
// member, whose cache never saw the key, so the handler runs there too
// (two effects, one key) and the caller gets the same result: the
// documented behaviour of a pool (DESIGN.md "Delivery guarantees").
func TestIdempotentRetryOnAnotherMember(t *testing.T) {
	var log syncBuf
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "die"), nil, 0o600))
	cfg := guaranteeConfig(t, dir, &log)
	cfg.Restart.MinBackoff = time.Second // the retry cannot wait for the dead member's restart
	p, err := host.NewPool(cfg, host.PoolConfig{Size: 2, Dispatch: host.StickyLeader})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	ms := p.Members()
	other := ms[1].Pid()

	var resp plexus.Raw
	require.NoError(t, retrying(t, p).Invoke(ctx, effectID, plexus.Raw("z"), &resp), "log:\n%s", log.String())
	require.Equal(t, "done:z", string(resp))
	require.Equal(t, ms[1], p.Leader(), "the other member leads now")
	require.Equal(t, other, ms[1].Pid(), "and it never restarted: it answered the retry")
	runs := effects(t, dir)
	require.Len(t, runs, 2, "the retry ran on another member, whose cache never saw the key")
	require.Equal(t, runs[0], runs[1])
}
