//go:build linux

package shmlink

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// TestWaitsHonourContext: a send or Alloc that waits for the peer (a
// slot it must free, ring space it must make) ends with the context's
// deadline or cancellation, not after the segment's own wait bound (30 s
// here), and sends nothing; the link goes on working.
func TestWaitsHonourContext(t *testing.T) {
	host, plugin := pair(t, tinyConfig(2, 30*time.Second), Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	for i := range 2 {
		require.NoError(t, host.Send(new(wire.Desc), payload(i)))
	}
	const deadline = 200 * time.Millisecond
	timed := func(what string, want plexus.Code, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if want == plexus.Canceled {
			var c2 context.CancelFunc
			ctx, c2 = context.WithCancel(context.Background())
			defer c2()
			time.AfterFunc(deadline, c2)
		}
		start := time.Now()
		err := f(ctx)
		took := time.Since(start)
		require.Equal(t, want, plexus.CodeOf(err), "%s: %v", what, err)
		require.Less(t, took, deadline+500*time.Millisecond, "%s took %v", what, took)
	}
	timed("Send waiting for a slot", plexus.DeadlineExceeded, func(ctx context.Context) error {
		return host.SendContext(ctx, new(wire.Desc), payload(2))
	})
	timed("Alloc waiting for a slot", plexus.DeadlineExceeded, func(ctx context.Context) error {
		_, err := host.AllocContext(ctx, 1000)
		return err
	})
	timed("Send waiting for a slot, cancelled", plexus.Canceled, func(ctx context.Context) error {
		return host.SendContext(ctx, new(wire.Desc), payload(2))
	})
	// Inline frames need no slot: fill the ring (64 descriptors, two
	// taken) and wait for space.
	for range 62 {
		require.NoError(t, host.Send(new(wire.Desc), []byte("inline")))
	}
	timed("Send waiting for ring space", plexus.DeadlineExceeded, func(ctx context.Context) error {
		return host.SendContext(ctx, new(wire.Desc), []byte("inline"))
	})
	// Nothing extra was sent, and the link still works.
	var f transport.Frame
	for i := range 64 {
		require.NoError(t, plugin.Recv(&f))
		if i < 2 {
			require.Equal(t, payload(i), f.Payload)
		} else {
			require.Equal(t, []byte("inline"), f.Payload)
		}
		plugin.Release(&f)
	}
	require.NoError(t, host.Send(new(wire.Desc), payload(3)))
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, payload(3), f.Payload)
	plugin.Release(&f)
}

// TestCallsHonourDeadlineWhenPeerStopsReading: with a peer that neither
// receives nor frees (it stopped), calls whose requests need a slot, and
// calls whose OPENs need ring space, all end at their own deadline with
// DEADLINE_EXCEEDED, though the segment's wait bound is 30 s and they
// queue behind one another (the ring's push lock, the session's OPEN
// lock, and the one-waiter gates are not held across another's wait).
func TestCallsHonourDeadlineWhenPeerStopsReading(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"slots", 1000}, {"ring space", 8}} {
		t.Run(tc.name, func(t *testing.T) {
			host, _ := pair(t, tinyConfig(2, 30*time.Second), Config{})
			s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
			defer s.Close()
			const callers, deadline = 80, 300 * time.Millisecond
			method := plexus.MethodID("test.S", "Echo")
			type result struct {
				err  error
				took time.Duration
			}
			results := make(chan result, callers)
			for range callers {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					defer cancel()
					start := time.Now()
					err := s.Invoke(ctx, method, plexus.Raw(make([]byte, tc.size)), nil)
					results <- result{err, time.Since(start)}
				}()
			}
			late := 0
			for range callers {
				r := <-results
				require.Equal(t, plexus.DeadlineExceeded, plexus.CodeOf(r.err), "%v", r.err)
				if r.took > deadline+250*time.Millisecond {
					late++
					t.Logf("a call took %v: %v", r.took, r.err)
				}
			}
			require.Zero(t, late, "calls that outlived their deadline by more than 250 ms")
		})
	}
}
