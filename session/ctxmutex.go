package session

import (
	"context"
	"runtime"
	"sync/atomic"
)

// ctxMutex is a mutex whose Lock gives up when the caller's context ends.
// The session holds one (openMu) from a call's ID allocation to its
// OPEN's send, which may wait for ring space: a caller queued behind it
// must still fail at its own deadline, not at the end of another call's
// wait. Uncontended, it costs what a sync.Mutex does (lock is one
// compare-and-swap, unlock one atomic store and one atomic load), and both
// inline, being every call's path; only waiters use the channel.
//
// It is its own flag rather than a sync.Mutex so that lock and unlock
// inline: a sync.Mutex's TryLock and Unlock alone exceed the inliner's
// budget. Waiters spin a few times and then wait on the channel, whatever
// their context, as the ones with a deadline always did.
type ctxMutex struct {
	locked  atomic.Uint32 // 1 while held
	waiters atomic.Int32
	free    chan struct{} // capacity 1: the mutex was unlocked while someone waited
}

func (m *ctxMutex) init() { m.free = make(chan struct{}, 1) }

// spinTries is how often lock yields and tries again before it parks.
const spinTries = 4

// lock takes the mutex, or returns false once ctx is done.
func (m *ctxMutex) lock(ctx context.Context) bool {
	if m.locked.CompareAndSwap(0, 1) {
		return true
	}
	return m.lockSlow(ctx)
}

// lockSlow is lock for a mutex found held.
func (m *ctxMutex) lockSlow(ctx context.Context) bool {
	// The mutex is held for microseconds (an ID and a push into the
	// ring) unless its holder waits for ring space: under many
	// concurrent callers, yielding a few times finds it free far more
	// cheaply than parking on the channel and being woken.
	for range spinTries {
		runtime.Gosched()
		if m.locked.CompareAndSwap(0, 1) {
			return true
		}
	}
	// Counted before the next attempt: an unlock either comes after that
	// attempt (and sees the count, and signals), or before it (and the
	// attempt finds the mutex free, unless another goroutine took it,
	// whose own unlock will signal).
	m.waiters.Add(1)
	defer m.waiters.Add(-1)
	for {
		if m.locked.CompareAndSwap(0, 1) {
			return true
		}
		select {
		case <-m.free:
		case <-ctx.Done(): // nil, never ready, for a context that cannot end
			return false
		}
	}
}

func (m *ctxMutex) unlock() {
	m.locked.Store(0)
	if m.waiters.Load() > 0 {
		m.signal()
	}
}

// signal wakes a waiter. It is kept out of line so that unlock inlines.
//
//go:noinline
func (m *ctxMutex) signal() {
	select {
	case m.free <- struct{}{}:
	default: // a signal is pending already
	}
}
