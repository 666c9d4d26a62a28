package host_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// onShm reports whether the tests' plugins are linked over shared memory
// (not PLEXUS_TEST_LINK=socket or dialback), where Stats has the
// segment's figures.
func onShm() bool { return testLink == host.LinkDefault }

// TestClientStatsCalls: calls in flight show as the host's (out) and
// callbacks the host serves as the peer's (in), each a channel, and go
// once they finish; the client's identity and counters are its own.
func TestClientStatsCalls(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	cfg.HostServices = session.NewMux()
	_, err := cfg.HostServices.HandleUnary(cbName, "Greet", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	c := start(t, cfg)

	st := c.Stats()
	require.Equal(t, "echo", st.Name)
	require.Equal(t, c.Pid(), st.Pid)
	require.NotZero(t, st.Pid)
	require.Equal(t, "running", st.State)
	require.Equal(t, 1, st.Starts)
	require.Zero(t, st.Restarts)
	require.Zero(t, st.Deaths)
	require.Empty(t, st.LastError)
	require.Positive(t, st.Uptime)
	require.NotNil(t, st.Session)
	require.Equal(t, session.Stats{FramesReceived: st.Session.FramesReceived}, *st.Session, "no call in flight yet")
	if onShm() {
		require.Equal(t, "shared memory", st.Link)
		require.NotNil(t, st.SharedMemory)
	} else {
		require.Equal(t, "socket", st.Link)
		require.Nil(t, st.SharedMemory)
	}

	const blocked = 5
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, blocked+1)
	for range blocked {
		go func() { errs <- c.Invoke(ctx, blockID, plexus.Raw("b"), nil) }()
	}
	go func() { // the plugin calls back into the host, which holds it
		var resp plexus.Raw
		errs <- c.Invoke(ctx, callHostID, plexus.Raw("x"), &resp)
	}()
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == blocked }, 20*time.Second, 10*time.Millisecond)
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the callback never reached the host")
	}
	st = c.Stats()
	require.Equal(t, blocked+1, st.Session.CallsOut, "the Block calls and CallHost")
	require.Equal(t, 1, st.Session.CallsIn, "the callback the host serves")
	require.Equal(t, blocked+2, st.Session.Channels)
	require.False(t, st.Session.Ended)

	close(release)
	cancel()
	for i := range blocked + 1 {
		select {
		case <-errs:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls returned", i, blocked+1)
		}
	}
	require.Eventually(t, func() bool { return c.Stats().Session.Channels == 0 }, 10*time.Second, 5*time.Millisecond)
	st = c.Stats()
	require.Zero(t, st.Session.CallsOut)
	require.Zero(t, st.Session.CallsIn)

	require.NoError(t, c.Close())
	st = c.Stats()
	require.Equal(t, "closed", st.State)
	require.Nil(t, st.Session, "no instance after Close")
	require.Nil(t, st.SharedMemory)
	require.Zero(t, st.Pid)
	require.Zero(t, st.Deaths, "Close is not a death")
}

// TestClientStatsLeases: a lease the host holds is a slot of its own pool
// in use (or a blob lease above the largest slot), a response held as a
// view is a slot of the plugin's pool in use, and each goes back when
// released.
func TestClientStatsLeases(t *testing.T) {
	if !onShm() {
		t.Skip("leases are link memory only on shared memory")
	}
	var buf logBuf
	c := start(t, config(t, &buf))
	s := c.Session()
	base := *c.Stats().SharedMemory
	require.False(t, base.Closed)
	require.Zero(t, base.Leases)
	require.Zero(t, base.Held)
	ci := classFor(t, base.Own, 1000)
	require.Zero(t, base.Own[ci].InUse, "an idle link holds no slot")

	lease, err := s.Alloc(1000)
	require.NoError(t, err)
	m := *c.Stats().SharedMemory
	require.Equal(t, 1, m.Own[ci].InUse, "the lease is a slot of the %d-byte class", m.Own[ci].Size)
	require.Equal(t, 1, m.Leases)
	big, err := s.Alloc(2 << 20) // above the largest slot: a blob
	require.NoError(t, err)
	m = *c.Stats().SharedMemory
	require.Equal(t, 2, m.Leases)
	require.Equal(t, 1, m.Blobs.Leases)
	lease.Release()
	big.Release()
	m = *c.Stats().SharedMemory
	require.Zero(t, m.Own[ci].InUse)
	require.Zero(t, m.Leases)
	require.Zero(t, m.Blobs.Leases)

	// The plugin's answer, received as a view, holds its slot here.
	pi := classFor(t, base.Peer, 2000)
	var resp session.Lease
	require.NoError(t, c.Invoke(context.Background(), echoID, plexus.Raw(bytes.Repeat([]byte{7}, 2000)), &resp))
	require.Equal(t, 2000, resp.Len())
	m = *c.Stats().SharedMemory
	require.Equal(t, 1, m.Peer[pi].InUse, "the response's slot in the plugin's pool")
	require.Equal(t, 1, m.Held)
	resp.Release()
	m = *c.Stats().SharedMemory
	require.Zero(t, m.Peer[pi].InUse)
	require.Zero(t, m.Held)
}

// classFor is the index of the smallest class that holds n bytes.
func classFor(t *testing.T, cs []shm.ClassUse, n int) int {
	t.Helper()
	for i, c := range cs {
		if c.Size >= n {
			return i
		}
	}
	t.Fatalf("no class holds %d bytes: %+v", n, cs)
	return -1
}

// TestClientStatsRestart: a plugin killed and restarted shows in the
// counters (a death, a restart, a second start) with the new PID, a
// fresh uptime and the death as its last error.
func TestClientStatsRestart(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 2, MinBackoff: 10 * time.Millisecond}
	c := start(t, cfg)
	old := c.Pid()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	killed := time.Now()
	require.Eventually(t, func() bool {
		st := c.Stats()
		return st.State == "running" && st.Pid != old && st.Pid != 0
	}, 20*time.Second, 5*time.Millisecond)
	st := c.Stats()
	require.Equal(t, c.Pid(), st.Pid)
	require.Equal(t, 1, st.Restarts)
	require.Equal(t, c.Restarts(), st.Restarts)
	require.Equal(t, 1, st.Deaths)
	require.Equal(t, 2, st.Starts)
	require.Contains(t, st.LastError, "signal: killed")
	require.Less(t, st.Uptime, time.Since(killed), "the uptime is the new instance's")
	require.Zero(t, st.Session.Channels, "the new session starts empty")
	got, err := echo(context.Background(), c, "after")
	require.NoError(t, err)
	require.Equal(t, "after", got)
}

// TestClientStatsUnderLoad: taken while callers keep the link busy with
// payloads of every placement (inline, slot, blob), every figure stays in
// its bounds (fills within the rings' capacity, slots in use within each
// class), the geometry does not change between looks, received frames
// only grow, calls in flight are seen, and the blobs show in the cache
// and the peer's buffers mapped.
func TestClientStatsUnderLoad(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	const callers = 8
	sizes := []int{10, 2000, 100 << 10, 2 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed error
	var failMu sync.Mutex
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
				if err := c.Invoke(ctx, echoID, plexus.Raw(bytes.Repeat([]byte{byte(k)}, n)), &resp); err != nil || len(resp) != n {
					failMu.Lock()
					failed = errors.Join(failed, err)
					failMu.Unlock()
					return
				}
			}
		}()
	}
	first := c.Stats()
	var lastFrames uint64
	sawCalls := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		st := c.Stats()
		require.Equal(t, "running", st.State)
		require.Equal(t, first.Pid, st.Pid)
		ss := st.Session
		require.GreaterOrEqual(t, ss.FramesReceived, lastFrames, "frames received only grow")
		lastFrames = ss.FramesReceived
		require.GreaterOrEqual(t, ss.CallsOut, 0)
		require.LessOrEqual(t, ss.CallsOut, callers)
		require.Zero(t, ss.CallsIn)
		if ss.CallsOut > 0 {
			sawCalls++
		}
		if m := st.SharedMemory; m != nil {
			f := first.SharedMemory
			for _, r := range []struct {
				name      string
				got, want shm.RingUse
			}{{"tx", m.TX, f.TX}, {"rx", m.RX, f.RX}} {
				require.Equal(t, r.want.Capacity, r.got.Capacity, r.name)
				require.Positive(t, r.got.Capacity, r.name)
				require.GreaterOrEqual(t, r.got.Pending, 0, r.name)
				require.LessOrEqual(t, r.got.Pending, r.got.Capacity, r.name)
			}
			checkClasses(t, "own", f.Own, m.Own)
			checkClasses(t, "peer", f.Peer, m.Peer)
			require.GreaterOrEqual(t, m.Leases, 0)
			require.GreaterOrEqual(t, m.Held, 0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, failed)
	require.Positive(t, sawCalls, "calls in flight were seen under load")
	last := c.Stats()
	require.Greater(t, last.Session.FramesReceived, first.Session.FramesReceived)
	if m := last.SharedMemory; m != nil {
		require.Positive(t, m.Blobs.Created, "2 MiB requests went in this side's blob buffers")
		require.Positive(t, m.Blobs.PeerMapped, "2 MiB responses came in the plugin's buffers, kept mapped")
		require.LessOrEqual(t, m.Blobs.Bytes, int64(shmlink.DefaultBlobCache), "the cache stays within its bound")
	}
}

// checkClasses: the classes keep their geometry, and each has between 0
// and all of its slots in use.
func checkClasses(t *testing.T, name string, want, got []shm.ClassUse) {
	t.Helper()
	require.Len(t, got, len(want), name)
	for i := range got {
		require.Equal(t, want[i].Size, got[i].Size, "%s class %d", name, i)
		require.Equal(t, want[i].Count, got[i].Count, "%s class %d", name, i)
		require.GreaterOrEqual(t, got[i].InUse, 0, "%s class %d", name, i)
		require.LessOrEqual(t, got[i].InUse, got[i].Count, "%s class %d", name, i)
	}
}

// TestPoolStats: a pool's Stats are its members', in member order.
func TestPoolStats(t *testing.T) {
	var buf logBuf
	p, err := host.NewPool(config(t, &buf), host.PoolConfig{Size: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	sts := p.Stats()
	require.Len(t, sts, 2)
	for i, c := range p.Members() {
		require.Equal(t, c.Pid(), sts[i].Pid)
		require.Equal(t, "running", sts[i].State)
	}
	require.NotEqual(t, sts[0].Pid, sts[1].Pid)
	require.Equal(t, []string{"echo#0", "echo#1"}, []string{sts[0].Name, sts[1].Name})
}
