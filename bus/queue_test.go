package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestQueueExactlyOnceWithKill: 4 publishers, a group of 4 consumers, one
// killed midway holding buffered and in-flight messages: every message
// is consumed (Done) exactly once, none lost, none doubled.
func TestQueueExactlyOnceWithKill(t *testing.T) {
	requireNoLeak(t)
	n := 100_000
	if raceEnabled {
		n = 50_000
	}
	const publishers, members = 4, 4
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := &queueRun{t: t, n: n, b: newBus(t, Config{QueuePolicy: RoundRobin}), tr: newTracker(n),
		counts: make([]atomic.Int32, n), allDone: make(chan struct{})}
	subs := make([]*Subscription, members)
	for i := range subs {
		subs[i] = subscribe(t, r.b, "work.>", SubOptions{Queue: "workers", Buffer: 64})
	}
	var wg, pubs sync.WaitGroup
	for _, s := range subs[1:] {
		wg.Go(func() { r.consume(ctx, s, -1, nil) })
	}
	victim := subs[0]
	holding := make(chan *Delivery, 1)
	wg.Go(func() { r.consume(ctx, victim, n/(2*members), holding) })
	errs := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		pubs.Go(func() { errs <- r.publish(ctx, p, publishers) })
	}

	inFlight := <-holding
	eventually(t, "the victim's buffer to fill", func() bool { return victim.Stats().Buffered > 0 })
	before := victim.Stats()
	victim.Kill(plexus.Errorf(plexus.PeerDied, "the plugin died"))
	require.ErrorIs(t, inFlight.Done(), errFailedPrecondition, "the killed member's in-flight Done must fail")
	after := victim.Stats()
	require.GreaterOrEqual(t, after.Redistributed, uint64(before.Buffered+1))
	require.Zero(t, after.Buffered+after.InFlight)

	pubs.Wait()
	for p := 0; p < publishers; p++ {
		require.NoError(t, <-errs)
	}
	select {
	case <-r.allDone:
	case <-ctx.Done():
		t.Fatalf("consumed %d of %d", r.consumed.Load(), n)
	}
	cancel()
	wg.Wait()
	for id := range r.counts {
		require.Equal(t, int32(1), r.counts[id].Load(), "message %d consumed %d times", id, r.counts[id].Load())
	}
	require.Zero(t, r.b.Stats().Orphaned)
	r.tr.requireReleased(t, n)
}

type queueRun struct {
	t        *testing.T
	n        int
	b        *Bus
	tr       *tracker
	counts   []atomic.Int32 // by message: how often consumed
	consumed atomic.Int64
	allDone  chan struct{}
}

// consume takes messages until ctx ends; with hold >= 0, it keeps the
// hold-th message in flight, hands it to the test and stops.
func (r *queueRun) consume(ctx context.Context, s *Subscription, hold int, holding chan<- *Delivery) {
	for i := 0; ; i++ {
		d, err := s.Next(ctx)
		if err != nil {
			return
		}
		if i == hold {
			holding <- d
			return
		}
		if d.Done() != nil {
			continue
		}
		r.counts[idOf(d)].Add(1)
		if r.consumed.Add(1) == int64(r.n) {
			close(r.allDone)
		}
	}
}

func (r *queueRun) publish(ctx context.Context, p, publishers int) error {
	for id := p; id < r.n; id += publishers {
		if _, err := r.b.Publish(ctx, r.tr.msg(fmt.Sprintf("work.%d", p), id)); err != nil {
			return err
		}
	}
	return nil
}

// TestRoundRobinEven: 4 members get 100 of 400 each, in turn; a member
// whose pattern does not match a subject is skipped for it.
func TestRoundRobinEven(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(500)
	subs := make([]*Subscription, 4)
	for i := range subs {
		subs[i] = subscribe(t, b, "jobs.*", SubOptions{Queue: "q", QueuePolicy: RoundRobin, Buffer: 1000})
	}
	narrow := subscribe(t, b, "jobs.special", SubOptions{Queue: "q", Buffer: 1000})
	for id := 0; id < 400; id++ {
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("jobs.plain", id)))
	}
	for i, s := range subs {
		ids := drain(t, s)
		require.Len(t, ids, 100)
		for k, id := range ids {
			require.Equal(t, i+4*k, id, "member %d in turn", i)
		}
	}
	require.Empty(t, drain(t, narrow))
	for id := 400; id < 500; id++ {
		publish(t, b, tr.msg("jobs.special", id))
	}
	total := len(drain(t, narrow))
	for _, s := range subs {
		got := len(drain(t, s))
		require.Equal(t, 20, got)
		total += got
	}
	require.Equal(t, 100, total)
	tr.requireReleased(t, 500)
}

// TestLeastLoadedPrefersEmptier: messages go to the members holding
// least, counting in-flight ones; ties go in turn.
func TestLeastLoadedPrefersEmptier(t *testing.T) {
	b := newBus(t, Config{QueuePolicy: LeastLoaded})
	tr := newTracker(20)
	m := make([]*Subscription, 3)
	for i := range m {
		m[i] = subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 10})
	}
	id := 0
	pub := func() {
		publish(t, b, tr.msg("t", id))
		id++
	}
	held := func() []int {
		out := make([]int, len(m))
		for i, s := range m {
			st := s.Stats()
			out[i] = st.Buffered + st.InFlight
		}
		return out
	}
	pub()
	pub()
	pub()
	require.Equal(t, []int{1, 1, 1}, held(), "ties in turn")
	pub()
	pub()
	pub()
	require.Equal(t, []int{2, 2, 2}, held())
	require.Equal(t, []int{1, 4}, drain(t, m[1]))
	pub()
	pub()
	require.Equal(t, []int{2, 2, 2}, held(), "both to the emptied member")
	d, err := m[2].TryNext() // in flight still counts
	require.NoError(t, err)
	require.Equal(t, []int{2, 2, 2}, held())
	require.NoError(t, d.Done())
	pub()
	require.Equal(t, []int{2, 2, 2}, held(), "to the member that finished one")
	for _, s := range m {
		drain(t, s)
	}
	tr.requireReleased(t, id)
}

// TestQueuePolicyConflict: the first member sets the group's policy.
func TestQueuePolicyConflict(t *testing.T) {
	b := newBus(t, Config{})
	subscribe(t, b, "t", SubOptions{Queue: "q", QueuePolicy: LeastLoaded})
	subscribe(t, b, "t", SubOptions{Queue: "q"})
	_, err := b.Subscribe(t.Context(), "t", SubOptions{Queue: "q", QueuePolicy: RoundRobin})
	require.ErrorIs(t, err, errFailedPrecondition)
}

// TestRedistribution: a member's messages go to the remaining members
// whose patterns match, in flight ones first; those no one matches are
// orphaned and released.
func TestRedistribution(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(6)
	wide := subscribe(t, b, "a.*", SubOptions{Queue: "q", Buffer: 10})
	publish(t, b, tr.msg("a.b", 0))
	publish(t, b, tr.msg("a.c", 1))
	publish(t, b, tr.msg("a.b", 2))
	narrow := subscribe(t, b, "a.b", SubOptions{Queue: "q", Buffer: 10})
	d, err := wide.TryNext()
	require.NoError(t, err)
	require.Equal(t, 0, idOf(d))
	wide.Unsubscribe()
	wide.Unsubscribe()
	require.ErrorIs(t, d.Done(), errFailedPrecondition)
	require.Equal(t, 1, tr.released(1), "a.c had no one left")
	require.Equal(t, uint64(1), b.Stats().Orphaned)
	var got []int
	for {
		d, err := narrow.TryNext()
		require.NoError(t, err)
		if d == nil {
			break
		}
		require.True(t, d.Redelivered)
		got = append(got, idOf(d))
		require.NoError(t, d.Done())
		require.ErrorIs(t, d.Done(), errFailedPrecondition, "Done at most once")
	}
	require.Equal(t, []int{0, 2}, got, "in flight first, then buffered")
	tr.requireReleased(t, 3)
}

// TestRedistributionWhenFull: a full Block member takes redeliveries up
// to twice its buffer; a full DropNewest member drops them; beyond that
// they are orphaned.
func TestRedistributionWhenFull(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(10)
	dying := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 4, Overflow: DropNewest})
	block := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 2})
	for id := 0; id < 6; id++ {
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
	}
	// Round-robin until block was full: dying 0,2,4,5; block 1,3.
	dying.Kill(nil)
	require.ErrorIs(t, dying.Err(), errAborted)
	st := block.Stats()
	require.Equal(t, 4, st.Buffered, "twice its buffer")
	require.Equal(t, uint64(2), b.Stats().Orphaned)
	require.Equal(t, []int{1, 3, 0, 2}, drain(t, block))

	drop := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 1, Overflow: DropNewest})
	dying2 := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 5, Overflow: DropNewest})
	for id := 6; id < 10; id++ {
		publish(t, b, tr.msg("t", id))
	}
	block.Unsubscribe()
	dying2.Unsubscribe()
	require.Equal(t, uint64(2), b.Stats().Orphaned)
	require.Equal(t, 1, len(drain(t, drop)))
	require.Equal(t, uint64(3), drop.Stats().Dropped)
	tr.requireReleased(t, 10)
}

// TestQueueOverflowEnd: when every member is full, the picked member's
// End policy ends it; what it held goes to the rest, whose own policy
// applies (End drops a redelivery rather than ending another member).
func TestQueueOverflowEnd(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(3)
	m1 := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 1, Overflow: End})
	m2 := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 1, Overflow: End})
	publish(t, b, tr.msg("t", 0))
	publish(t, b, tr.msg("t", 1))
	require.Equal(t, PublishResult{Dropped: 1}, publish(t, b, tr.msg("t", 2)))
	require.ErrorIs(t, m1.Err(), plexus.ErrResourceExhausted)
	require.NoError(t, m2.Err())
	require.Equal(t, SubStats{Dropped: 1, Redistributed: 1}, m1.Stats())
	require.Equal(t, uint64(1), m2.Stats().Dropped, "the redelivery found m2 full")
	require.Equal(t, []int{1}, drain(t, m2))
	tr.requireReleased(t, 3)
}

// TestGroupWaitAnyMember: when every member of a group is full, a Block
// publisher waits for room in any member, not only in the one it
// picked: the member it picks stalls full (alive, not consuming), the
// other drains, and the publisher goes on through the other.
func TestGroupWaitAnyMember(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	tr := newTracker(3)
	drains := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 1})
	stalls := subscribe(t, b, "t", SubOptions{Queue: "q", Buffer: 1})
	publish(t, b, tr.msg("t", 0)) // drains
	publish(t, b, tr.msg("t", 1)) // stalls
	ctx := testCtx(t, 10*time.Second)
	published := make(chan error, 1)
	go func() {
		res, err := b.Publish(ctx, tr.msg("t", 2))
		if err == nil && res != (PublishResult{Delivered: 1}) {
			err = fmt.Errorf("result %+v", res)
		}
		published <- err
	}()
	// Round-robin: routing picks drains (full), the wait's retry picks
	// stalls (full), and the publisher waits.
	eventually(t, "the publisher to wait on the group", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.groups["q"].waiting == 1
	})
	d, err := drains.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, idOf(d))
	require.NoError(t, d.Done(), "room in drains")
	require.NoError(t, <-published, "the publisher went on through drains while stalls stays full")
	d, err = drains.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, idOf(d))
	require.NoError(t, d.Done())
	require.Equal(t, []int{1}, drain(t, stalls))
	b.mu.Lock()
	require.Zero(t, b.groups["q"].waiting)
	b.mu.Unlock()
	tr.requireReleased(t, 3)
}
