package host_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

func startPool(t *testing.T, cfg host.Config, pc host.PoolConfig) *host.Pool {
	t.Helper()
	p, err := host.NewPool(cfg, pc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	return p
}

func poolPid(t *testing.T, p *host.Pool) int {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, p.Invoke(context.Background(), pidID, plexus.Raw("x"), &resp))
	return int(le64(resp))
}

func TestPoolRoundRobin(t *testing.T) {
	var buf logBuf
	p := startPool(t, config(t, &buf), host.PoolConfig{Size: 3})
	counts := map[int]int{}
	for range 30 {
		counts[poolPid(t, p)]++
	}
	require.Len(t, counts, 3)
	for _, m := range p.Members() {
		require.Equal(t, 10, counts[m.Pid()], "member %d", m.Pid())
	}
}

func TestPoolLeastLoaded(t *testing.T) {
	var buf logBuf
	p := startPool(t, config(t, &buf), host.PoolConfig{Size: 3, Dispatch: host.LeastLoaded})
	ms := p.Members()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- p.Invoke(ctx, blockID, plexus.Raw("b"), nil) }()
	}
	// Both blocked calls are in flight on the first two members...
	require.Eventually(t, func() bool {
		return callU64(t, ms[0], pendingID) == 1 && callU64(t, ms[1], pendingID) == 1
	}, 10*time.Second, 5*time.Millisecond)
	// ...so every call now goes to the idle third.
	for range 5 {
		require.Equal(t, ms[2].Pid(), poolPid(t, p))
	}
	cancel()
	for range 2 {
		require.True(t, errors.Is(<-done, plexus.ErrCanceled))
	}
}

func TestPoolFailover(t *testing.T) {
	var buf logBuf
	p := startPool(t, config(t, &buf), host.PoolConfig{Size: 2, Dispatch: host.LeastLoaded})
	ms := p.Members()
	victim := ms[0].Pid()

	// A call that reached the victim fails with it, and is not retried.
	blockedErr := make(chan error, 1)
	go func() { blockedErr <- p.Invoke(context.Background(), blockID, plexus.Raw("b"), nil) }()
	require.Eventually(t, func() bool { return callU64(t, ms[0], pendingID) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	select {
	case err := <-blockedErr:
		require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("call in flight on the killed member hangs")
	}
	// Calls made afterwards all go to the survivor.
	require.True(t, waitGone(victim, 5*time.Second))
	require.Eventually(t, func() bool { return ms[0].Pid() == 0 }, 5*time.Second, time.Millisecond)
	for range 20 {
		require.Equal(t, ms[1].Pid(), poolPid(t, p))
	}
}

func TestPoolHealthCheck(t *testing.T) {
	var buf logBuf
	var sick atomic.Int64
	pc := host.PoolConfig{Size: 2, HealthInterval: 20 * time.Millisecond,
		HealthCheck: func(ctx context.Context, c session.Conn) error {
			var resp plexus.Raw
			if err := c.Invoke(ctx, pidID, plexus.Raw("x"), &resp); err != nil {
				return err
			}
			if int64(le64(resp)) == sick.Load() {
				return errors.New("unhealthy on purpose")
			}
			return nil
		}}
	p := startPool(t, config(t, &buf), pc)
	ms := p.Members()
	allTo := func(pid int) bool {
		for range 6 {
			if poolPid(t, p) != pid {
				return false
			}
		}
		return true
	}
	sick.Store(int64(ms[0].Pid()))
	require.Eventually(t, func() bool { return allTo(ms[1].Pid()) }, 5*time.Second, 10*time.Millisecond,
		"calls avoid the member failing its health check")
	sick.Store(int64(ms[1].Pid()))
	require.Eventually(t, func() bool { return allTo(ms[0].Pid()) }, 5*time.Second, 10*time.Millisecond,
		"the recovered member serves again, the newly sick one does not")
}

// TestPoolStickyLeader: every call goes to the leader; when it dies the
// next member leads, and stays the leader after the old one is back.
func TestPoolStickyLeader(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Restart = host.RestartPolicy{MaxRestarts: 5, MinBackoff: 10 * time.Millisecond}
	p := startPool(t, cfg, host.PoolConfig{Size: 3, Dispatch: host.StickyLeader})
	ms := p.Members()
	require.Equal(t, ms[0], p.Leader())
	for range 20 {
		require.Equal(t, ms[0].Pid(), poolPid(t, p), "every call goes to the leader")
	}
	old := ms[0].Pid()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		// A call may still reach the dying leader and fail: probe only.
		var resp plexus.Raw
		return p.Invoke(context.Background(), pidID, plexus.Raw("x"), &resp) == nil && int(le64(resp)) == ms[1].Pid()
	}, 10*time.Second, time.Millisecond, "the next member leads once the leader is dead")
	require.Equal(t, ms[1], p.Leader())
	require.Eventually(t, func() bool { return ms[0].Restarts() == 1 && ms[0].Pid() != 0 }, 10*time.Second, 5*time.Millisecond)
	for range 20 {
		require.Equal(t, ms[1].Pid(), poolPid(t, p), "the new leader stays the leader")
	}
}

// TestPoolBroadcast: a broadcast reaches every member once, with a result
// per member in order; a member that died gives its error while the
// others answer.
func TestPoolBroadcast(t *testing.T) {
	var buf logBuf
	p := startPool(t, config(t, &buf), host.PoolConfig{Size: 3})
	ms := p.Members()
	pids := make([]plexus.Raw, len(ms))
	res := p.Broadcast(context.Background(), pidID, plexus.Raw("x"), func(i int) plexus.Unmarshaler { return &pids[i] })
	require.Len(t, res, 3)
	for i, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, i, r.Member)
		require.Same(t, ms[i], r.Client)
		require.Equal(t, ms[i].Pid(), int(le64(pids[i])), "member %d answered for itself", i)
	}

	require.NoError(t, syscall.Kill(ms[1].Pid(), syscall.SIGKILL))
	require.Eventually(t, func() bool {
		return ms[1].Invoke(context.Background(), pidID, plexus.Raw("x"), nil) != nil
	}, 10*time.Second, 5*time.Millisecond)
	res = p.Broadcast(context.Background(), pidID, plexus.Raw("x"), nil)
	require.NoError(t, res[0].Err)
	require.Error(t, res[1].Err, "the dead member's result is its error")
	require.NoError(t, res[2].Err)
}
