package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestContendProbe: the count of involuntary switches is read once the
// loop has waited contendProbeEvery, then only after a gap of
// offProcessor between two looks, and a move between two reads is a
// preemption; a move seen at no such gap, or no move, is none.
func TestContendProbe(t *testing.T) {
	var count, reads int64
	switches := func() int64 { reads++; return count }
	var p contendProbe
	us := time.Microsecond
	require.False(t, p.preempted(5*us, 5*us, switches))
	require.Zero(t, reads, "no read before contendProbeEvery")
	require.False(t, p.preempted(contendProbeEvery, 10*us, switches))
	require.EqualValues(t, 1, reads, "the first read, at contendProbeEvery")
	count++
	require.False(t, p.preempted(12*us, 12*us, switches))
	require.EqualValues(t, 1, reads, "no read without a gap")
	require.True(t, p.preempted(12*us+offProcessor, 12*us+offProcessor, switches), "moved across a gap")
	require.False(t, p.preempted(100*us, 100*us, switches), "a gap, but no move since the last read")
	require.EqualValues(t, 3, reads)
}

// TestPreemptedLoneCallerBlocks: a lone caller whose count of involuntary
// switches moves across gaps in its polling stops polling long before its
// budget, blocks, and marks contention, under which the next caller's
// budget is zero if its request rang the peer's doorbell, and
// contendedSpin if not; its response then comes through a reader.
func TestPreemptedLoneCallerBlocks(t *testing.T) {
	fp := newFakePoller(20 * time.Microsecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	var count atomic.Int64
	r.switches = func() int64 { return count.Add(1) } // moves at every read
	r.maxCallSpin = time.Minute
	r.respTime.Store(int64(time.Minute)) // budget: a minute
	ch := openCall(t, s, fp, "ping")
	fp.onTryRecv = func(n int64) {
		if n%500 == 0 {
			time.Sleep(50 * time.Microsecond) // off the processor
		}
	}
	got := make(chan bool, 1)
	go func() { got <- r.await(ch, context.Background()) }()
	eventually(t, func() bool { return r.waiters.Load() == 1 }, "the caller blocks")
	require.True(t, r.contention.holds(), "and marked contention")
	require.Zero(t, r.callBudget(true), "under which callers whose request rang the peer do not poll")
	require.Equal(t, contendedSpin, r.callBudget(false), "and those whose peer polls, for a hot round trip")
	fp.push(statusFrame(ch.id, "pong"))
	go r.read()
	awaitPong(t, got, ch)

	// The mark lapses contendedFor after it was made.
	r.contention.mark(time.Since(monoEpoch) - contendedFor - time.Millisecond)
	require.False(t, r.contention.holds())
	require.Equal(t, time.Minute, r.callBudget(false))
}

// TestUnpreemptedCallerPollsOn: the same gaps in a caller's polling with
// a count that does not move (its thread was interrupted, not given up
// for another) change nothing: it polls on and takes its response itself.
func TestUnpreemptedCallerPollsOn(t *testing.T) {
	fp := newFakePoller(20 * time.Microsecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	var reads atomic.Int64
	r.switches = func() int64 { reads.Add(1); return 7 }
	r.maxCallSpin = time.Minute
	r.respTime.Store(int64(time.Minute))
	ch := openCall(t, s, fp, "ping")
	fp.onTryRecv = func(n int64) {
		if n%500 == 0 {
			time.Sleep(50 * time.Microsecond)
		}
		if n == 5000 {
			fp.push(statusFrame(ch.id, "pong"))
		}
	}
	require.True(t, r.await(ch, context.Background()))
	require.Equal(t, "pong", response(t, ch))
	require.Positive(t, reads.Load(), "the caller looked")
	require.Zero(t, r.waiters.Load(), "and never blocked")
	require.False(t, r.contention.holds())
}

// TestContendedCallerPollsWhenPeerPolls: while contention holds, a caller
// whose request found the peer polling (it rang nothing) still polls for
// a hot round trip and takes a response that comes within it itself,
// blocking not at all; one whose request rang the peer's doorbell blocks
// at once, and its response comes through a reader.
func TestContendedCallerPollsWhenPeerPolls(t *testing.T) {
	fp := newFakePoller(20 * time.Microsecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	r.maxCallSpin = time.Minute
	r.respTime.Store(int64(time.Minute)) // uncontended, a caller would poll a minute
	r.contention.mark(time.Since(monoEpoch) + time.Hour)
	require.True(t, r.contention.holds())

	// At poll 40: past the 16 polls of a zero budget, and before the
	// first look at the clock of a nonzero one (64 polls), so that
	// however slow the polls its budget cannot have passed.
	ch := openCall(t, s, fp, "ping")
	fp.onTryRecv = func(n int64) {
		if n == 40 {
			fp.push(statusFrame(ch.id, "pong"))
		}
	}
	// A caller that blocked instead would wait for ever: nothing else
	// polls.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.True(t, r.await(ch, ctx), "the caller took its response")
	require.Equal(t, "pong", response(t, ch))
	require.Zero(t, fp.wakes.Load(), "no reader was woken: the caller took its response")

	fp.onTryRecv = nil
	rung := openCall(t, s, fp, "ping")
	rung.woke = true
	got := make(chan bool, 1)
	go func() { got <- r.await(rung, context.Background()) }()
	eventually(t, func() bool { return r.waiters.Load() == 1 }, "the caller whose request rang blocks")
	fp.push(statusFrame(rung.id, "pong"))
	go r.read()
	awaitPong(t, got, rung)
}
