package bus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestUnsubscribe: the subscription ends with CANCELED, its buffered
// messages are released, a delivery taken before stays valid, and a
// second Unsubscribe does nothing.
func TestUnsubscribe(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(3)
	s := subscribe(t, b, "t", SubOptions{})
	for id := 0; id < 3; id++ {
		publish(t, b, tr.msg("t", id))
	}
	d, err := s.TryNext()
	require.NoError(t, err)
	s.Unsubscribe()
	s.Unsubscribe()
	<-s.Ended()
	_, err = s.Next(t.Context())
	require.ErrorIs(t, err, plexus.ErrCanceled)
	require.Equal(t, []int{0, 1, 1}, releasedList(tr, 3))
	require.NoError(t, d.Done())
	require.Error(t, d.Done())
	tr.requireReleased(t, 3)
	require.Equal(t, PublishResult{}, publish(t, b, newTracker(1).msg("t", 0)))
	require.Equal(t, SubStats{Delivered: 1, Dropped: 2}, s.Stats())
	require.Zero(t, b.Stats().Subscriptions)
}

// TestSubscriptionContext: a subscription ends with its context, with
// the context's code, and leaves no goroutine behind.
func TestSubscriptionContext(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	s, err := b.Subscribe(ctx, "t", SubOptions{Queue: "q"})
	require.NoError(t, err)
	cancel()
	<-s.Ended()
	_, err = s.Next(t.Context())
	require.ErrorIs(t, err, plexus.ErrCanceled)

	dctx, dcancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer dcancel()
	s2, err := b.Subscribe(dctx, "t", SubOptions{})
	require.NoError(t, err)
	<-s2.Ended()
	require.ErrorIs(t, s2.Err(), plexus.ErrDeadlineExceeded)

	_, err = b.Subscribe(ctx, "t", SubOptions{})
	require.ErrorIs(t, err, plexus.ErrCanceled)
	require.Zero(t, b.Stats().Subscriptions)

	// Ended otherwise, its context watch is stopped.
	ctx3, cancel3 := context.WithCancel(t.Context())
	defer cancel3()
	s3, err := b.Subscribe(ctx3, "t", SubOptions{})
	require.NoError(t, err)
	s3.Unsubscribe()
	cancel3()
	require.ErrorIs(t, s3.Err(), plexus.ErrCanceled)
}

// TestNextWaits: Next waits for a message and gives up at its context.
func TestNextWaits(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(1)
	s := subscribe(t, b, "t", SubOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := s.Next(ctx)
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	got := make(chan int)
	go func() {
		defer close(got)
		if d, err := s.Next(testCtx(t, 10*time.Second)); err == nil {
			id := idOf(d)
			_ = d.Done() // before the test looks at the release
			got <- id
		}
	}()
	publish(t, b, tr.msg("t", 0))
	require.Equal(t, 0, <-got)
	tr.requireReleased(t, 1)
}

// TestClose: every subscription ends with UNAVAILABLE, buffers and
// history are released, Publish and Subscribe fail, and deliveries
// already taken are released by their Done.
func TestClose(t *testing.T) {
	b, err := New(Config{History: 10})
	require.NoError(t, err)
	tr := newTracker(5)
	fan := subscribe(t, b, ">", SubOptions{})
	q1 := subscribe(t, b, "t", SubOptions{Queue: "q"})
	q2 := subscribe(t, b, "t", SubOptions{Queue: "q"})
	for id := 0; id < 4; id++ {
		publish(t, b, tr.msg("t", id))
	}
	taken, err := fan.TryNext()
	require.NoError(t, err)
	inflight, err := q1.TryNext()
	require.NoError(t, err)
	b.Close()
	b.Close()
	for _, s := range []*Subscription{fan, q1, q2} {
		_, err := s.Next(t.Context())
		require.ErrorIs(t, err, plexus.ErrUnavailable)
	}
	// Message 0 is taken by fan and was in flight at q1, which Close ended.
	require.Equal(t, []int{0, 1, 1, 1}, releasedList(tr, 4))
	require.NoError(t, taken.Done())
	require.ErrorIs(t, inflight.Done(), errFailedPrecondition)
	tr.requireReleased(t, 4)
	_, err = b.Publish(t.Context(), tr.msg("t", 4))
	require.ErrorIs(t, err, plexus.ErrUnavailable)
	require.Equal(t, 1, tr.released(4))
	_, err = b.Subscribe(t.Context(), "t", SubOptions{})
	require.ErrorIs(t, err, plexus.ErrUnavailable)
	require.Zero(t, b.Stats().Orphaned)
}

// TestEndDuringDelivery: subscribers end (Unsubscribe, Kill, End, their
// context) while 4 publishers run: no panic, no goroutine left, and
// every payload is released exactly once.
func TestEndDuringDelivery(t *testing.T) {
	requireNoLeak(t)
	perPub := 5000
	if raceEnabled {
		perPub = 1500
	}
	const publishers = 4
	total := publishers * perPub
	b := newBus(t, Config{History: 8})
	tr := newTracker(total)
	ctx := testCtx(t, 30*time.Second)
	var pubs, subs sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pubs.Go(func() {
			for i := 0; i < perPub; i++ {
				_, _ = b.Publish(ctx, tr.msg(fmt.Sprintf("x.%d", i%3), p*perPub+i))
			}
		})
	}
	patterns := []string{"x.*", "x.1", ">", "x.>"}
	for k := 0; k < 16; k++ {
		rng := rand.New(rand.NewPCG(uint64(k), 7))
		opts := SubOptions{Buffer: 8 + rng.IntN(32), Overflow: Overflow(rng.IntN(4))}
		if k%4 == 3 && opts.Overflow == Block {
			// Left undrained until Close, it would hold the publishers.
			opts.Overflow = DropOldest
		}
		if k%2 == 0 {
			opts.Queue = fmt.Sprintf("q%d", k%3)
		} else {
			opts.History = rng.IntN(10)
		}
		sctx, cancel := context.WithCancel(ctx)
		s, err := b.Subscribe(sctx, patterns[k%len(patterns)], opts)
		require.NoError(t, err)
		subs.Go(func() {
			defer cancel()
			runConsumer(sctx, s, rng, k%4, cancel)
		})
	}
	pubs.Wait()
	b.Close() // ends the subscriptions whose consumers still wait
	subs.Wait()
	tr.requireReleased(t, total)
}

// runConsumer takes messages, sometimes leaving one undone, and ends the
// subscription after a random number, in the way given by how.
func runConsumer(ctx context.Context, s *Subscription, rng *rand.Rand, how int, cancel func()) {
	var held []*Delivery
	for i := rng.IntN(2000); i > 0; i-- {
		d, err := s.Next(ctx)
		if err != nil {
			break
		}
		// A few left undone, fewer than any Buffer: a queue member's
		// undone deliveries take room in it.
		if len(held) < 3 && rng.IntN(4) == 0 {
			held = append(held, d)
			continue
		}
		_ = d.Done()
	}
	switch how {
	case 0:
		s.Unsubscribe()
	case 1:
		s.Kill(plexus.Errorf(plexus.PeerDied, "gone"))
	case 2:
		cancel()
		<-s.Ended()
	default:
		// leave it to Close
	}
	for _, d := range held {
		_ = d.Done()
	}
}

// TestConsume: a push consumer on its own goroutine gets every message in
// order, each Done after fn, and returns the end status; a failing fn
// stops it with that delivery not Done.
func TestConsume(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(6)
	s := subscribe(t, b, "t", SubOptions{})
	got := make(chan int, 5)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Consume(testCtx(t, 10*time.Second), func(d *Delivery) error {
			got <- idOf(d)
			return nil
		})
	}()
	for id := 0; id < 5; id++ {
		publish(t, b, tr.msg("t", id))
	}
	for id := 0; id < 5; id++ {
		require.Equal(t, id, <-got)
	}
	s.Unsubscribe()
	require.ErrorIs(t, <-errc, plexus.ErrCanceled)
	tr.requireReleased(t, 5)

	q := subscribe(t, b, "t", SubOptions{Queue: "q"})
	publish(t, b, tr.msg("t", 5))
	boom := plexus.Errorf(plexus.Internal, "boom")
	require.Equal(t, boom, q.Consume(t.Context(), func(*Delivery) error { return boom }))
	require.Equal(t, 1, q.Stats().InFlight)
	q.Unsubscribe()
	tr.requireReleased(t, 6)
}
