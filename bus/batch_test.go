package bus

import (
	"context"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// takeIDs takes with TakeBatch into ds and returns the IDs, not Done.
func takeIDs(t *testing.T, s *Subscription, ds []Delivery) []int {
	t.Helper()
	n, err := s.TakeBatch(ds)
	require.NoError(t, err)
	ids := []int{}
	for i := range n {
		ids = append(ids, idOf(&ds[i]))
	}
	return ids
}

// TestTakeBatchFanout: oldest first, at most len(ds), the same slice
// reused; the counters follow Next's; each payload is released exactly
// once, at the Done of its delivery.
func TestTakeBatchFanout(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(7)
	s := subscribe(t, b, "t", SubOptions{Buffer: 10})
	for id := 0; id < 7; id++ {
		publish(t, b, tr.msg("t", id))
	}
	ds := make([]Delivery, 4)
	require.Equal(t, []int{0, 1, 2, 3}, takeIDs(t, s, ds))
	for i := 1; i < 4; i++ {
		require.Less(t, ds[i-1].Seq, ds[i].Seq)
		require.Equal(t, "t", ds[i].Subject)
	}
	require.Equal(t, SubStats{Delivered: 4, Buffered: 3}, s.Stats())
	require.Equal(t, []int{0, 0, 0, 0}, releasedList(tr, 4), "not before Done")
	for i := range ds {
		require.NoError(t, ds[i].Done())
	}
	require.ErrorIs(t, ds[0].Done(), errFailedPrecondition, "Done at most once")
	require.Equal(t, []int{1, 1, 1, 1, 0}, releasedList(tr, 5))

	n, err := s.TakeBatch(nil)
	require.NoError(t, err)
	require.Zero(t, n, "an empty ds takes nothing")
	require.Equal(t, 3, s.Stats().Buffered)

	require.Equal(t, []int{4, 5, 6}, takeIDs(t, s, ds), "the same slice again")
	require.Equal(t, 3, idOf(&ds[3]), "a slot not moved into is left alone")
	for i := range 3 {
		require.NoError(t, ds[i].Done(), "a reused slot holds a new delivery")
	}
	require.Equal(t, []int{}, takeIDs(t, s, ds), "nothing buffered: 0, nil")
	require.Equal(t, SubStats{Delivered: 7}, s.Stats())
	tr.requireReleased(t, 7)
}

// TestTakeBatchEnded: once ended, TakeBatch gives 0 and the status, for
// any ds; deliveries taken before stay valid.
func TestTakeBatchEnded(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(3)
	s := subscribe(t, b, "t", SubOptions{})
	for id := 0; id < 3; id++ {
		publish(t, b, tr.msg("t", id))
	}
	ds := make([]Delivery, 1)
	require.Equal(t, []int{0}, takeIDs(t, s, ds))
	s.Unsubscribe()
	for _, ds := range [][]Delivery{make([]Delivery, 2), nil} {
		n, err := s.TakeBatch(ds)
		require.Zero(t, n)
		require.ErrorIs(t, err, plexus.ErrCanceled)
	}
	require.Equal(t, []int{0, 1, 1}, releasedList(tr, 3), "the buffered ones were dropped")
	require.NoError(t, ds[0].Done())
	tr.requireReleased(t, 3)
	var zero Delivery
	require.ErrorIs(t, zero.Done(), errFailedPrecondition, "a slot never filled")
}

// TestTakeBatchMakesRoom: a batch taken from a full Block subscription
// lets its waiting publisher go on, as Next would.
func TestTakeBatchMakesRoom(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(3)
	s := subscribe(t, b, "t", SubOptions{Buffer: 2})
	publish(t, b, tr.msg("t", 0))
	publish(t, b, tr.msg("t", 1))
	errc := make(chan error, 1)
	go func() {
		_, err := b.Publish(testCtx(t, 10*time.Second), tr.msg("t", 2))
		errc <- err
	}()
	eventually(t, "the publisher to wait", func() bool { return s.Stats().Waiting == 1 })
	ds := make([]Delivery, 2)
	require.Equal(t, []int{0, 1}, takeIDs(t, s, ds))
	require.NoError(t, <-errc)
	require.NoError(t, ds[0].Done())
	require.NoError(t, ds[1].Done())
	require.Equal(t, []int{2}, drain(t, s))
	tr.requireReleased(t, 3)
}

// TestTakeBatchQueue: a member's batch is in flight until Done, which
// acknowledges each once; a slot given up and reused leaves its message
// in flight; when the member ends, what it had in flight goes to another
// member in the order taken (across batches), then what it had
// buffered, and its deliveries' Done fails.
func TestTakeBatchQueue(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(7)
	m1 := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 10})
	for id := 0; id < 7; id++ {
		publish(t, b, tr.msg("t", id))
	}
	first := make([]Delivery, 2)
	require.Equal(t, []int{0, 1}, takeIDs(t, m1, first))
	second := make([]Delivery, 3)
	require.Equal(t, []int{2, 3, 4}, takeIDs(t, m1, second))
	require.Equal(t, SubStats{Delivered: 5, Buffered: 2, InFlight: 5}, m1.Stats())
	require.Equal(t, int64(7), m1.load.Load(), "in flight still counts")

	require.NoError(t, second[0].Done(), "acks message 2")
	require.ErrorIs(t, second[0].Done(), errFailedPrecondition, "Done at most once")
	require.Equal(t, 4, m1.Stats().InFlight)
	require.Equal(t, 1, tr.released(2))
	// first[0] (message 0) given up: its slot takes message 5.
	require.Equal(t, []int{5}, takeIDs(t, m1, first[:1]))
	require.NoError(t, first[0].Done(), "acks message 5, not 0")
	require.Equal(t, SubStats{Delivered: 6, Buffered: 1, InFlight: 4}, m1.Stats())

	m2 := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 10})
	m1.Unsubscribe()
	require.Equal(t, SubStats{Delivered: 6, Redistributed: 5}, m1.Stats())
	for i := range second {
		require.ErrorIs(t, second[i].Done(), errFailedPrecondition, "the member ended first")
	}
	require.ErrorIs(t, first[1].Done(), errFailedPrecondition)

	ds := make([]Delivery, 8)
	require.Equal(t, []int{0, 1, 3, 4, 6}, takeIDs(t, m2, ds), "in flight in take order, then buffered")
	for i := range 5 {
		require.True(t, ds[i].Redelivered)
		require.NoError(t, ds[i].Done())
	}
	require.Equal(t, SubStats{Delivered: 5}, m2.Stats())
	tr.requireReleased(t, 7)
}

// TestWait: Wait returns at once when a message is buffered (even with
// ctx done, as Next), when one arrives from another goroutine, when the
// subscription ends, and with ctx's status otherwise.
func TestWait(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(2)
	s := subscribe(t, b, "t", SubOptions{Queue: "q"})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.Wait(cancelled), plexus.ErrCanceled)
	short, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, s.Wait(short), plexus.ErrDeadlineExceeded)

	waiting := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.avail.ch != nil
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(testCtx(t, 10*time.Second)) }()
	eventually(t, "Wait to wait", waiting)
	publish(t, b, tr.msg("t", 0))
	require.NoError(t, <-waited)
	require.NoError(t, s.Wait(cancelled), "a message is buffered")
	require.Equal(t, 1, s.Stats().Buffered, "Wait takes nothing")
	require.Equal(t, []int{0}, drain(t, s))

	go func() { waited <- s.Wait(testCtx(t, 10*time.Second)) }()
	eventually(t, "Wait to wait", waiting)
	s.Unsubscribe()
	require.NoError(t, <-waited)
	require.NoError(t, s.Wait(cancelled), "ended")
	n, err := s.TakeBatch(make([]Delivery, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, plexus.ErrCanceled)
	tr.requireReleased(t, 1)
}

// TestWaitTakeBatchConcurrent: a consumer on Wait and TakeBatch, reusing
// its slice, gets everything a Block publisher sends, in order, each
// payload released once.
func TestWaitTakeBatchConcurrent(t *testing.T) {
	requireNoLeak(t)
	n := 20_000
	if raceEnabled {
		n = 5_000
	}
	b := newBus(t, Config{})
	tr := newTracker(n)
	s := subscribe(t, b, "t", SubOptions{Buffer: 64})
	ctx := testCtx(t, 30*time.Second)
	errc := make(chan error, 1)
	go func() {
		for id := 0; id < n; id++ {
			if _, err := b.Publish(ctx, tr.msg("t", id)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ds := make([]Delivery, 16)
	next := 0
	for next < n {
		require.NoError(t, s.Wait(ctx))
		k, err := s.TakeBatch(ds)
		require.NoError(t, err)
		for i := range k {
			require.Equal(t, next, idOf(&ds[i]))
			require.NoError(t, ds[i].Done())
			next++
		}
	}
	require.NoError(t, <-errc)
	require.Equal(t, SubStats{Delivered: uint64(n)}, s.Stats())
	tr.requireReleased(t, n)
}
