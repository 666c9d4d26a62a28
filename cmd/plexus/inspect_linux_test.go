package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The test binary is also the plugin of TestInspectCommand: started with
// inspectPluginEnv set, it serves inspectSvc and never reaches the tests
// (or TestMain, which init runs before).
const (
	inspectPluginEnv = "PLEXUS_INSPECT_TEST_PLUGIN"
	inspectCookie    = "plexus-inspect-test"
	inspectSvc       = "inspecttest.Echo"
)

var (
	inspectEcho    = plexus.MethodID(inspectSvc, "Echo")
	inspectBlock   = plexus.MethodID(inspectSvc, "Block")
	inspectPending = plexus.MethodID(inspectSvc, "Pending")
)

func init() {
	if os.Getenv(inspectPluginEnv) == "" {
		return
	}
	var mu sync.Mutex
	var n int64 // Block calls running
	m := func(name string, h session.UnaryHandler) plugin.Method {
		return plugin.Method{Name: name, Signature: 0x1234, Unary: h}
	}
	svc := plugin.Service{Name: inspectSvc, Methods: []plugin.Method{
		m("Echo", func(_ context.Context, req []byte) (plexus.Marshaler, error) { return plexus.Raw(req), nil }),
		m("Block", func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			mu.Lock()
			n++
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			n--
			mu.Unlock()
			return nil, ctx.Err()
		}),
		m("Pending", func(context.Context, []byte) (plexus.Marshaler, error) {
			mu.Lock()
			defer mu.Unlock()
			return plexus.Raw(strconv.FormatInt(n, 10)), nil
		}),
	}}
	plugin.Serve(plugin.ServeConfig{Cookie: inspectCookie, Versions: map[uint32][]plugin.Service{1: {svc}}})
}

// buildPlexus builds this command into a temporary directory: the test
// runs it as a user would, as a process of its own.
func buildPlexus(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "plexus")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return exe
}

// runPlexus runs the built command, bounded in time, and returns its
// output and exit code.
func runPlexus(t *testing.T, exe string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %s %q: %v", exe, args, err)
	}
	require.NoError(t, ctx.Err(), "plexus %q did not finish in time", args)
	return o.String(), e.String(), code
}

// TestInspectCommand: `plexus inspect -json PID`, run as a command against
// this test process as the host of two plugins under load (calls of every
// payload placement, calls held in flight, a lease held), reports what the
// host itself knows: Client.Stats taken just before and just after bound
// every figure (identity, counters, uptime and frames between the two,
// the same geometry, fills and slot use within their capacity, the calls
// held in flight and the lease). The table and -watch forms show the same
// links, and a process without the endpoint gets an error naming the fix.
func TestInspectCommand(t *testing.T) {
	exe := buildPlexus(t)
	self, err := os.Executable()
	require.NoError(t, err)
	// The socket goes under the test's own directory, not the user's /tmp.
	t.Setenv("TMPDIR", t.TempDir())

	const callers, held = 4, 3
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	clients := map[string]*host.Client{}
	for _, name := range []string{"inspect-a", "inspect-b"} {
		c, err := host.New(host.Config{
			Path: self, Name: name, Cookie: inspectCookie,
			Env: []string{inspectPluginEnv + "=1", "GORACE=atexit_sleep_ms=0"},
			Versions: map[uint32][]host.ServiceDesc{1: {{Name: inspectSvc, Methods: []host.MethodDesc{
				{Name: "Echo", Signature: 0x1234}, {Name: "Block", Signature: 0x1234}, {Name: "Pending", Signature: 0x1234}}}}},
			Logger:       hclog.NewNullLogger(),
			StartTimeout: 20 * time.Second,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		require.NoError(t, c.Start(ctx))
		clients[name] = c
	}

	// Load: callers per client echo payloads that travel inline, in a
	// slot and in a blob; held calls stay in flight until the end.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loadErr error
	var loadMu sync.Mutex
	blockCtx, unblock := context.WithCancel(ctx)
	defer unblock()
	sizes := []int{16, 3000, 2 << 20}
	for _, c := range clients {
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					n := sizes[(i+k)%len(sizes)]
					var resp plexus.Raw
					err := c.Invoke(ctx, inspectEcho, plexus.Raw(bytes.Repeat([]byte{1}, n)), &resp)
					if err == nil && len(resp) != n {
						err = errors.New("short echo")
					}
					if err != nil {
						loadMu.Lock()
						loadErr = errors.Join(loadErr, err)
						loadMu.Unlock()
						return
					}
				}
			}()
		}
		for range held {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Invoke(blockCtx, inspectBlock, plexus.Raw("b"), nil) }()
		}
	}
	defer func() {
		close(stop)
		unblock()
		wg.Wait()
		require.NoError(t, loadErr)
	}()
	for name, c := range clients {
		require.Eventually(t, func() bool {
			var resp plexus.Raw
			return c.Invoke(ctx, inspectPending, plexus.Raw{}, &resp) == nil && string(resp) == strconv.Itoa(held)
		}, 30*time.Second, 10*time.Millisecond, "%s: the held calls reach the plugin", name)
		// and a 2 MiB call has gone out in a blob buffer (on a loaded
		// machine the callers may not have got that far yet)
		require.Eventually(t, func() bool {
			sm := c.Stats().SharedMemory
			return sm != nil && sm.Blobs.Created > 0
		}, 30*time.Second, 10*time.Millisecond, "%s: a blob buffer is made", name)
	}
	lease, err := clients["inspect-a"].Session().Alloc(1000)
	require.NoError(t, err)
	defer lease.Release()

	path, err := host.ServeInspect()
	require.NoError(t, err)
	defer host.StopInspect()
	require.Equal(t, host.InspectPath(os.Getpid()), path)
	again, err := host.ServeInspect()
	require.NoError(t, err)
	require.Equal(t, path, again, "ServeInspect is idempotent")
	fi, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	before := map[string]host.ClientStats{}
	for name, c := range clients {
		before[name] = c.Stats()
	}
	t0 := time.Now()
	stdout, stderr, code := runPlexus(t, exe, "inspect", "-json", strconv.Itoa(os.Getpid()))
	t1 := time.Now()
	after := map[string]host.ClientStats{}
	for name, c := range clients {
		after[name] = c.Stats()
	}
	require.Zero(t, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "\n  \"version\": 1", "indented")

	dec := json.NewDecoder(strings.NewReader(stdout))
	var doc host.InspectDoc
	require.NoError(t, dec.Decode(&doc))
	require.False(t, dec.More(), "one JSON object")
	require.Equal(t, host.InspectVersion, doc.Version)
	require.Equal(t, os.Getpid(), doc.Pid)
	require.False(t, doc.Time.Before(t0) || doc.Time.After(t1), "taken while the command ran: %v not in [%v, %v]", doc.Time, t0, t1)
	got := map[string]host.ClientStats{}
	for _, c := range doc.Clients {
		_, dup := got[c.Name]
		require.False(t, dup, "client %s listed twice", c.Name)
		got[c.Name] = c
	}
	for name := range clients {
		g, ok := got[name]
		require.True(t, ok, "client %s is listed", name)
		checkInspected(t, name, before[name], g, after[name], held, held+callers)
	}
	require.Positive(t, got["inspect-a"].SharedMemory.Leases, "the lease held")
	own := got["inspect-a"].SharedMemory.Own
	i := 0
	for own[i].Size < 1000 {
		i++
	}
	require.Positive(t, own[i].InUse, "the lease's %d-byte slot is in use", own[i].Size)

	// The table, refreshed: each refresh names the host and both
	// clients, with the fill and slot figures in their forms.
	stdout, stderr, code = runPlexus(t, exe, "inspect", "-watch", "-count", "2", "-interval", "50ms", strconv.Itoa(os.Getpid()))
	require.Zero(t, code, "stderr: %s", stderr)
	require.Equal(t, 2, strings.Count(stdout, "host pid "+strconv.Itoa(os.Getpid())+":"), stdout)
	require.Equal(t, 2, strings.Count(stdout, clearScreen), "redrawn in place")
	for name, c := range clients {
		require.Regexp(t, `(?m)^`+name+` +pid `+strconv.Itoa(c.Pid())+`$`, stdout)
	}
	require.Regexp(t, `(?m)^  restarts +0 \(starts 1, deaths 0\)$`, stdout)
	require.Regexp(t, `(?m)^  ring +tx \d+/2048, rx \d+/2048$`, stdout)
	require.Regexp(t, `(?m)^  slots +own  256B \d+/512  4KiB \d+/128`, stdout)
	stdout, _, code = runPlexus(t, exe, "inspect", "-json", "-count", "2", "-interval", "10ms", strconv.Itoa(os.Getpid()))
	require.Zero(t, code)
	dec = json.NewDecoder(strings.NewReader(stdout))
	for range 2 {
		var d host.InspectDoc
		require.NoError(t, dec.Decode(&d))
		require.Equal(t, os.Getpid(), d.Pid)
	}
	require.False(t, dec.More(), "-count 2: two documents")

	// A process without the endpoint (a plugin), and this one once
	// stopped: the error says what the host must do and where it looked.
	pid := clients["inspect-b"].Pid()
	_, stderr, code = runPlexus(t, exe, "inspect", strconv.Itoa(pid))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "host.ServeInspect")
	require.Contains(t, stderr, host.InspectPath(pid))
	host.StopInspect()
	_, err = os.Stat(path)
	require.True(t, errors.Is(err, os.ErrNotExist), "StopInspect removes the socket: %v", err)
	_, stderr, code = runPlexus(t, exe, "inspect", strconv.Itoa(os.Getpid()))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "host.ServeInspect")

	_, _, code = runPlexus(t, exe, "inspect")
	require.Equal(t, 2, code, "no PID")
	_, _, code = runPlexus(t, exe, "inspect", "x")
	require.Equal(t, 2, code, "not a PID")
}

// checkInspected checks what plexus inspect reported of one client (got)
// against Client.Stats taken just before and just after: what cannot
// change under load is equal, what grows lies between the two, and what
// moves with the load lies within its bounds.
func checkInspected(t *testing.T, name string, before, got, after host.ClientStats, minOut, maxOut int) {
	t.Helper()
	for _, s := range []host.ClientStats{before, after} {
		require.Equal(t, s.Pid, got.Pid, name)
		require.Equal(t, s.Starts, got.Starts, name)
		require.Equal(t, s.Restarts, got.Restarts, name)
		require.Equal(t, s.Deaths, got.Deaths, name)
		require.Equal(t, s.State, got.State, name)
		require.Equal(t, s.Link, got.Link, name)
		require.Equal(t, s.LastError, got.LastError, name)
	}
	require.NotZero(t, got.Pid, name)
	require.Equal(t, "running", got.State, name)
	require.Equal(t, "shared memory", got.Link, name)
	require.True(t, before.Started.Equal(got.Started), "%s: same instance", name)
	require.LessOrEqual(t, before.Uptime, got.Uptime, name)
	require.LessOrEqual(t, got.Uptime, after.Uptime, name)

	bs, gs, as := before.Session, got.Session, after.Session
	require.NotNil(t, gs, name)
	require.LessOrEqual(t, bs.FramesReceived, gs.FramesReceived, name)
	require.LessOrEqual(t, gs.FramesReceived, as.FramesReceived, name)
	require.GreaterOrEqual(t, gs.CallsOut, minOut, "%s: the held calls are in flight", name)
	require.LessOrEqual(t, gs.CallsOut, maxOut, name)
	require.Zero(t, gs.CallsIn, name)
	require.Equal(t, gs.CallsOut+gs.CallsIn, gs.Channels, name)
	require.False(t, gs.Ended, name)

	bm, gm, am := before.SharedMemory, got.SharedMemory, after.SharedMemory
	require.NotNil(t, gm, name)
	require.False(t, gm.Closed, name)
	require.Empty(t, gm.Fault, name)
	require.Equal(t, bm.TX.Capacity, gm.TX.Capacity, name)
	require.Equal(t, bm.RX.Capacity, gm.RX.Capacity, name)
	require.Positive(t, gm.TX.Capacity, name)
	for _, r := range []struct {
		pending, capacity int
	}{{gm.TX.Pending, gm.TX.Capacity}, {gm.RX.Pending, gm.RX.Capacity}} {
		require.GreaterOrEqual(t, r.pending, 0, name)
		require.LessOrEqual(t, r.pending, r.capacity, name)
	}
	require.Len(t, gm.Own, len(bm.Own), name)
	require.Len(t, gm.Peer, len(bm.Peer), name)
	for i := range gm.Own {
		require.Equal(t, bm.Own[i].Size, gm.Own[i].Size, name)
		require.Equal(t, bm.Own[i].Count, gm.Own[i].Count, name)
		require.GreaterOrEqual(t, gm.Own[i].InUse, 0, name)
		require.LessOrEqual(t, gm.Own[i].InUse, gm.Own[i].Count, name)
	}
	for i := range gm.Peer {
		require.Equal(t, bm.Peer[i].Size, gm.Peer[i].Size, name)
		require.Equal(t, bm.Peer[i].Count, gm.Peer[i].Count, name)
		require.GreaterOrEqual(t, gm.Peer[i].InUse, 0, name)
		require.LessOrEqual(t, gm.Peer[i].InUse, gm.Peer[i].Count, name)
	}
	// Counters since the link was made only grow.
	require.LessOrEqual(t, bm.Blobs.Created, gm.Blobs.Created, name)
	require.LessOrEqual(t, gm.Blobs.Created, am.Blobs.Created, name)
	require.Positive(t, gm.Blobs.Created, "%s: 2 MiB requests travel in blob buffers", name)
	require.LessOrEqual(t, bm.Blobs.Reused, gm.Blobs.Reused, name)
	require.LessOrEqual(t, gm.Blobs.Reused, am.Blobs.Reused, name)
}
