package bus

import (
	"context"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestOverflowDropOldest: a buffer of 3 given 5 keeps the last 3; the two
// evicted ones are released when they are evicted.
func TestOverflowDropOldest(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(5)
	s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: DropOldest})
	for id := 0; id < 5; id++ {
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
	}
	require.Equal(t, []int{1, 1, 0, 0, 0}, releasedList(tr, 5))
	require.Equal(t, []int{2, 3, 4}, drain(t, s))
	st := s.Stats()
	require.Equal(t, uint64(2), st.Dropped)
	require.Equal(t, uint64(3), st.Delivered)
	tr.requireReleased(t, 5)
}

// TestOverflowDropNewest: a buffer of 3 given 5 keeps the first 3.
func TestOverflowDropNewest(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(5)
	s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: DropNewest})
	var results []PublishResult
	for id := 0; id < 5; id++ {
		results = append(results, publish(t, b, tr.msg("t", id)))
	}
	require.Equal(t, []PublishResult{{Delivered: 1}, {Delivered: 1}, {Delivered: 1}, {Dropped: 1}, {Dropped: 1}}, results)
	require.Equal(t, []int{0, 0, 0, 1, 1}, releasedList(tr, 5))
	require.Equal(t, []int{0, 1, 2}, drain(t, s))
	require.Equal(t, uint64(2), s.Stats().Dropped)
	tr.requireReleased(t, 5)
}

// TestOverflowEnd: the 4th message into a buffer of 3 ends the
// subscription with RESOURCE_EXHAUSTED and drops what it held; another
// subscriber is unaffected.
func TestOverflowEnd(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(5)
	s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: End})
	other := subscribe(t, b, "t", SubOptions{Buffer: 10})
	d0 := publish(t, b, tr.msg("t", 0))
	require.Equal(t, PublishResult{Delivered: 2}, d0)
	taken, err := s.TryNext() // in the consumer's hands when the end comes
	require.NoError(t, err)
	for id := 1; id < 4; id++ {
		publish(t, b, tr.msg("t", id))
	}
	require.Equal(t, PublishResult{Delivered: 1, Dropped: 1}, publish(t, b, tr.msg("t", 4)))
	_, err = s.Next(t.Context())
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	require.ErrorIs(t, s.Err(), plexus.ErrResourceExhausted)
	require.Equal(t, uint64(4), s.Stats().Dropped, "the one that overflowed and the three buffered")
	require.Equal(t, []int{0, 1, 2, 3, 4}, drain(t, other))
	require.Equal(t, []int{0, 1, 1, 1, 1}, releasedList(tr, 5), "the taken one waits for its Done")
	require.NoError(t, taken.Done())
	tr.requireReleased(t, 5)
}

// TestOverflowBlockDeadline: a publisher blocked by a full Block
// subscriber gives up at its deadline with DEADLINE_EXCEEDED; the other
// subscriber already had the message.
func TestOverflowBlockDeadline(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(3)
	slow := subscribe(t, b, "t", SubOptions{Buffer: 2, Overflow: Block})
	fast := subscribe(t, b, "t", SubOptions{Buffer: 10, Overflow: DropNewest})
	publish(t, b, tr.msg("t", 0))
	publish(t, b, tr.msg("t", 1))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	res, err := b.Publish(ctx, tr.msg("t", 2))
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.Equal(t, plexus.DeadlineExceeded, plexus.CodeOf(err))
	require.Equal(t, PublishResult{Delivered: 1, Dropped: 1}, res)
	require.Equal(t, []int{0, 1, 2}, drain(t, fast))
	require.Equal(t, []int{0, 1}, drain(t, slow))
	require.Equal(t, uint64(1), slow.Stats().Dropped)
	tr.requireReleased(t, 3)
}

// TestOverflowBlockWaits: a publisher waits for room in a full Block
// subscriber and delivers as soon as the consumer takes one; the order
// stays the publisher's.
func TestOverflowBlockWaits(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(4)
	slow := subscribe(t, b, "t", SubOptions{Buffer: 2})
	fast := subscribe(t, b, "t", SubOptions{Buffer: 10})
	publish(t, b, tr.msg("t", 0))
	publish(t, b, tr.msg("t", 1))
	done := make(chan PublishResult)
	go func() {
		defer close(done)
		res, err := b.Publish(testCtx(t, 10*time.Second), tr.msg("t", 2))
		if err == nil {
			res2, err2 := b.Publish(testCtx(t, 10*time.Second), tr.msg("t", 3))
			err = err2
			res.Delivered += res2.Delivered
		}
		if err != nil {
			return
		}
		done <- res
	}()
	eventually(t, "the publisher to wait", func() bool { return slow.Stats().Waiting == 1 })
	require.Equal(t, 3, fast.Stats().Buffered, "the fast subscriber got message 2 before the publisher waited")
	var got []int
	for len(got) < 4 {
		d, err := slow.Next(testCtx(t, 10*time.Second))
		require.NoError(t, err)
		got = append(got, idOf(d))
		require.NoError(t, d.Done())
	}
	require.Equal(t, []int{0, 1, 2, 3}, got)
	require.Equal(t, PublishResult{Delivered: 4}, <-done)
	require.Equal(t, []int{0, 1, 2, 3}, drain(t, fast))
	tr.requireReleased(t, 4)
}

// TestBlockWaitEndsWithSubscription: a publisher waiting on a Block
// subscriber returns when that subscriber ends, without error.
func TestBlockWaitEndsWithSubscription(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(2)
	s := subscribe(t, b, "t", SubOptions{Buffer: 1})
	publish(t, b, tr.msg("t", 0))
	errc := make(chan error, 1)
	go func() {
		_, err := b.Publish(testCtx(t, 10*time.Second), tr.msg("t", 1))
		errc <- err
	}()
	eventually(t, "the publisher to wait", func() bool { return s.Stats().Waiting == 1 })
	s.Unsubscribe()
	require.NoError(t, <-errc)
	tr.requireReleased(t, 2)
}

func releasedList(tr *tracker, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = tr.released(i)
	}
	return out
}
