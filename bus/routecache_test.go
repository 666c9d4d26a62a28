package bus

import (
	"context"
	"fmt"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// cachedRoutes is what the route cache holds for subject, or nil.
func cachedRoutes(b *Bus, subject string) *subjectRoutes {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.routes.m[subject]
}

// TestRouteCacheInvalidation: once a subject's routes are cached, every
// subscription that joins or leaves (fan-out or queue member) changes
// where the next message on it goes.
func TestRouteCacheInvalidation(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(8)
	pub := func(id, want int) {
		t.Helper()
		require.Equal(t, PublishResult{Delivered: want}, publish(t, b, tr.msg("a.b", id)), "message %d", id)
		require.NotNil(t, cachedRoutes(b, "a.b"), "cached after a publish")
	}
	a := subscribe(t, b, "a.b", SubOptions{})
	pub(0, 1)
	r := cachedRoutes(b, "a.b")
	pub(1, 1)
	require.Same(t, r, cachedRoutes(b, "a.b"), "a second publish uses the cache")

	other := subscribe(t, b, "a.*", SubOptions{})
	require.Nil(t, cachedRoutes(b, "a.b"), "a subscribe empties the cache")
	pub(2, 2)
	require.Equal(t, []int{0, 1, 2}, drain(t, a))
	a.Unsubscribe()
	require.Nil(t, cachedRoutes(b, "a.b"), "an unsubscribe empties the cache")
	pub(3, 1)

	q1 := subscribe(t, b, "a.>", SubOptions{Queue: "q", Buffer: 10})
	pub(4, 2) // other, q1
	q2 := subscribe(t, b, "a.b", SubOptions{Queue: "q", Buffer: 10})
	pub(5, 2) // other, q2 (round-robin after q1)
	pub(6, 2) // other, q1
	q1.Unsubscribe()
	require.Equal(t, uint64(2), q1.Stats().Redistributed)
	pub(7, 2) // other, q2: the only member left
	require.Equal(t, []int{5, 4, 6, 7}, drain(t, q2), "its own, then q1's redelivered, then the new one")
	q2.Unsubscribe()
	require.Zero(t, b.Stats().Groups)
	require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, newTracker(1).msg("a.b", 0)), "the group is gone from the route")
	require.Equal(t, []int{2, 3, 4, 5, 6, 7, 0}, drain(t, other))
	tr.requireReleased(t, 8)
}

// TestRouteCacheMistyped: a typed subscription that a cached route holds
// is ended by a message of another type, which the rest still get, and
// the route is rebuilt without it.
func TestRouteCacheMistyped(t *testing.T) {
	b := newBus(t, Config{})
	ctx := context.Background()
	wrong := subscribe(t, b, "x.*", SubOptions{Type: typeU})
	right := subscribe(t, b, "x.a", SubOptions{Type: typeT})
	raw := subscribe(t, b, ">", SubOptions{})
	res, err := b.Publish(ctx, &Message{Subject: "x.a", Data: []byte("raw")})
	require.NoError(t, err)
	require.Equal(t, 3, res.Delivered, "untyped: not checked")
	require.True(t, cachedRoutes(b, "x.a").typed)
	for i := 0; i < 2; i++ {
		res, err = b.Publish(ctx, typedMsg("x.a", typeT))
		require.NoError(t, err)
		require.Equal(t, 2, res.Delivered)
	}
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(wrong.Err()))
	require.Len(t, cachedRoutes(b, "x.a").all, 2)
	require.Equal(t, 3, len(drainAny(t, right)))
	require.Equal(t, 3, len(drainAny(t, raw)))
}

// TestRouteCacheBounded: beyond routeCacheMax subjects the cache starts
// over; routing stays right throughout.
func TestRouteCacheBounded(t *testing.T) {
	b := newBus(t, Config{})
	const n = routeCacheMax + 44
	tr := newTracker(n)
	all := subscribe(t, b, "s.>", SubOptions{Buffer: n})
	even := subscribe(t, b, "s.*.even", SubOptions{Buffer: n})
	var wantEven []int
	for id := 0; id < n; id++ {
		parity := []string{"even", "odd"}[id%2]
		want := 1
		if id%2 == 0 {
			want = 2
			wantEven = append(wantEven, id)
		}
		require.Equal(t, PublishResult{Delivered: want}, publish(t, b, tr.msg(fmt.Sprintf("s.%d.%s", id, parity), id)))
		b.mu.Lock()
		size := len(b.routes.m)
		b.mu.Unlock()
		require.LessOrEqual(t, size, routeCacheMax)
	}
	require.Len(t, drain(t, all), n)
	require.Equal(t, wantEven, drain(t, even))
	tr.requireReleased(t, n)
}

// TestPublishSteadyAllocs: in the steady state (one subject, routes
// cached) a publish to a fan-out subscription and a queue group, taken
// by TakeBatch and Done, allocates only the message's envelope.
func TestPublishSteadyAllocs(t *testing.T) {
	b := newBus(t, Config{})
	fan := subscribe(t, b, "t.x", SubOptions{Buffer: 16})
	q := subscribe(t, b, "t.*", SubOptions{Queue: "q", Buffer: 16})
	m := &Message{Subject: "t.x", Data: make([]byte, 64)}
	ds := make([]Delivery, 4)
	take := func(s *Subscription) {
		n, err := s.TakeBatch(ds)
		if err != nil || n != 1 {
			t.Fatalf("TakeBatch: %d, %v", n, err)
		}
		if err := ds[0].Done(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		take(fan)
		take(q)
	})
	require.Equal(t, 1.0, allocs, "the envelope only")
}

// drainAny takes every buffered message, marks it Done and returns the
// data.
func drainAny(t *testing.T, s *Subscription) []string {
	t.Helper()
	var out []string
	for {
		d, err := s.TryNext()
		require.NoError(t, err)
		if d == nil {
			return out
		}
		out = append(out, string(d.Data))
		require.NoError(t, d.Done())
	}
}
