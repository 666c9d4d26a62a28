package session

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// ctxMutex is a mutex whose Lock gives up when the caller's context ends.
// The session holds one (openMu) from a call's ID allocation to its
// OPEN's send, which may wait for ring space: a caller queued behind it
// must still fail at its own deadline, not at the end of another call's
// wait. Uncontended, it costs what a sync.Mutex does (Lock is a TryLock,
// Unlock one more atomic load); only waiters use the channel.
type ctxMutex struct {
	mu      sync.Mutex
	waiters atomic.Int32
	free    chan struct{} // capacity 1: the mutex was unlocked while someone waited
}

func (m *ctxMutex) init() { m.free = make(chan struct{}, 1) }

// spinTries is how often lock yields and tries again before it parks.
const spinTries = 4

// lock takes the mutex, or returns false once ctx is done.
func (m *ctxMutex) lock(ctx context.Context) bool {
	if m.mu.TryLock() {
		return true
	}
	if ctx.Done() == nil {
		m.mu.Lock() // nothing to give up for
		return true
	}
	// The mutex is held for microseconds (an ID and a push into the
	// ring) unless its holder waits for ring space: under many
	// concurrent callers, yielding a few times finds it free far more
	// cheaply than parking on the channel and being woken.
	for range spinTries {
		runtime.Gosched()
		if m.mu.TryLock() {
			return true
		}
	}
	// Counted before the next TryLock: an unlock either comes after
	// that TryLock (and sees the count, and signals), or before it (and
	// the TryLock finds the mutex free, unless another goroutine took
	// it, whose own unlock will signal).
	m.waiters.Add(1)
	defer m.waiters.Add(-1)
	for {
		if m.mu.TryLock() {
			return true
		}
		select {
		case <-m.free:
		case <-ctx.Done():
			return false
		}
	}
}

func (m *ctxMutex) unlock() {
	m.mu.Unlock()
	if m.waiters.Load() > 0 {
		select {
		case m.free <- struct{}{}:
		default: // a signal is pending already
		}
	}
}
