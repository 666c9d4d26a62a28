package session

import (
	"context"
	"sync/atomic"
)

// ctxWatch lets the goroutines blocked on their channels (see
// receiver.await) wait for the end of a context that many of them share
// without each selecting on its Done channel.
//
// A blocked caller must wake when its response comes (its channel's wake)
// or its context ends. A select on both enqueues the goroutine on two
// channels and locks both twice, and where 64 concurrent callers share
// one context (a server's request context, a client's lifetime context)
// they all queue on, and lock, that context's one Done channel: on the
// 2-vCPU machine the select took 7 % of the host's processor time and its
// locks 5 % more, and without it 64 callers made 16 % more calls
// (BENCHMARKS.md).
//
// So a context whose Done channel crowded callers block on twice in a row
// is watched instead: one goroutine waits for its end and then wakes every
// channel of the session (a spurious wake-up is allowed: the woken look at
// their channels and contexts again), and callers with a watched context
// block on their channel alone. At most watchSlots contexts are watched at
// a time, each until it ends or the session does; a context no crowd
// shares (a call's own timeout) is never watched and costs a select as
// before, uncontended. A context that cannot end (Done nil) needs neither.
//
// Concurrency: wait is called by any number of goroutines; a watcher
// clears its slot before it wakes the channels, so a caller that found the
// context watched is in the table when the wake-up comes (its channel is
// from its OPEN until its final status, which wakes it too), and one that
// looks after the clear selects, on a Done channel already closed.
type ctxWatch struct {
	s     *Session
	slots [watchSlots]atomic.Pointer[watched]
	// last is the Done channel the last crowded caller blocked on (a
	// <-chan struct{}); the next that blocks on the same starts its watch.
	last atomic.Value
	// started counts watches started, for tests.
	started atomic.Int64
}

// watchSlots bounds the contexts watched at once per session.
const watchSlots = 4

// watched is a context being watched: its Done channel.
type watched struct{ done <-chan struct{} }

// wait blocks until ch is signalled and reports true, or reports false
// once ctx has ended (receiver.await's contract). crowded: other
// goroutines are blocked on their channels too, so ctx may be shared.
func (w *ctxWatch) wait(ch *channel, ctx context.Context, crowded bool) bool {
	done := ctx.Done()
	if done == nil {
		<-ch.wake
		return true
	}
	if w.watching(done) || (crowded && w.watch(done)) {
		<-ch.wake
		return ctx.Err() == nil
	}
	select {
	case <-ch.wake:
		return true
	case <-done:
		return false
	}
}

// watching reports whether done is watched.
func (w *ctxWatch) watching(done <-chan struct{}) bool {
	for i := range w.slots {
		if e := w.slots[i].Load(); e != nil && e.done == done {
			return true
		}
	}
	return false
}

// watch starts watching done if the last crowded caller blocked on it too
// and a slot is free, and reports whether it did.
func (w *ctxWatch) watch(done <-chan struct{}) bool {
	if last, _ := w.last.Load().(<-chan struct{}); last != done {
		w.last.Store(done)
		return false
	}
	for i := range w.slots {
		if w.slots[i].Load() != nil {
			continue
		}
		e := &watched{done: done}
		if w.slots[i].CompareAndSwap(nil, e) {
			w.started.Add(1)
			go w.run(i, e)
			return true
		}
	}
	return false
}

// run is a watch: it waits for the context's end (or the session's), then
// frees the slot and wakes every channel.
func (w *ctxWatch) run(i int, e *watched) {
	ended := false
	select {
	case <-e.done:
		ended = true
	case <-w.s.done: // the session's end fails and wakes every channel itself
	}
	w.slots[i].Store(nil)
	if ended {
		w.s.wakeAll()
	}
}

// wakeAll signals every open channel: a watched context has ended, and
// the callers blocked with it look at it again.
func (s *Session) wakeAll() {
	s.mu.Lock()
	for _, ch := range s.chans.all() {
		ch.signal()
	}
	s.mu.Unlock()
}
