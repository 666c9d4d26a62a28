package session

import (
	"sync/atomic"
	"time"
)

// lazyArm lets a caller whose response came leave the token without
// arming the link (leaveLazily). Arming is a sequentially consistent store
// to the parked flag's cache line, which the peer reads at every send:
// the store waits for the line to come back from the peer's processor,
// 0.2-0.4 us of a lone call's round trip on the 2-vCPU virtual machine
// (BENCHMARKS.md), and a caller in a loop disarms again at its next call
// a microsecond later. A frame the peer sends while the link is left so
// (a call or notification of its own, a ping) rings no doorbell: the next
// caller or reader that takes the token receives it, and if none comes,
// a timer arms the link (watchLazy) armAfter after the last such leave,
// waking the sleeper for what came meanwhile. The timer is set once for a
// run of calls, as the promote timer is (see reader.watch), not once a
// call.
type lazyArm struct {
	// open: the token's last holder left the link disarmed. Changed by
	// token holders (set by leaveLazily, cleared by every armed leave)
	// and read by anyone (ensureReader, watchLazy).
	open atomic.Bool
	// seq counts lazy leaves; seen is its value at watchLazy's last
	// look. watching: the timer is set, or watchLazy is deciding whether
	// to set it again.
	seq, seen atomic.Uint64
	watching  atomic.Bool
	// timer runs watchLazy. It is made with the receiver (initLazy), never
	// by a leave: a timer made and set there could fire before the
	// assignment of the leave's result was done.
	timer    *time.Timer
	armAfter time.Duration
}

// initLazy makes the lazy leaves' timer, stopped, for the receiver's
// lifetime.
func (r *pollReceiver) initLazy() {
	r.lazy.armAfter = lazyArmAfter
	r.lazy.timer = time.AfterFunc(time.Hour, r.watchLazy)
	r.lazy.timer.Stop()
}

// lazyArmAfter is how long after a run of lazy leaves ends the link is
// armed by the timer: the longest a peer's frame sent into the window
// waits for a reader, plus a Go timer's lateness (up to a millisecond
// when every processor idles), as for promoteAfter.
const lazyArmAfter = 50 * time.Microsecond

// mayLeaveLazily reports whether a caller whose response came (got) may
// leave without arming: only where no other caller waits for a response,
// which a reader must then receive (see pollCall), and no sleeper was
// rung for nothing while the token was held (see missedToken).
func (r *pollReceiver) mayLeaveLazily(got bool) bool {
	return got && r.waiters.Load() == 0 && !r.missed.Load()
}

// leaveLazily gives the token up without arming the link. It looks at a
// missed ring and at callers that began to wait after the look in
// mayLeaveLazily once the token is free, as pollCall does, and then makes
// sure the timer runs.
func (r *pollReceiver) leaveLazily() {
	l := &r.lazy
	if !l.open.Load() {
		l.open.Store(true)
	}
	r.tok.Unlock()
	if r.tookMissed() || r.waiters.Load() > 0 {
		r.wake()
	}
	// Counted, then the timer looked at; watchLazy clears watching and
	// then looks at open and the count: either this leave sets the
	// timer or watchLazy sees it (Go's atomics are sequentially
	// consistent).
	l.seq.Add(1)
	if !l.watching.Load() && l.watching.CompareAndSwap(false, true) {
		l.seen.Store(l.seq.Load())
		l.timer.Reset(l.armAfter)
	}
}

// closeLazy notes, for a token holder about to arm the link, that the
// link is no longer left disarmed.
func (r *pollReceiver) closeLazy() {
	if r.lazy.open.Load() {
		r.lazy.open.Store(false)
	}
}

// watchLazy is the lazy leaves' timer function. While lazy leaves go on
// it only sets itself again; once a whole period passed without one and
// the link is still left disarmed, it takes the token, if free, and
// leaves it as a reader does (armed, and the sleeper woken if frames came
// meanwhile). A holder it finds will leave itself, armed or lazily. Once
// the session has ended it sets itself no more, but still arms a link it
// finds left disarmed: that drops the transport's polling reference, as
// the last reader out does.
func (r *pollReceiver) watchLazy() {
	l := &r.lazy
	ended := r.s.ended()
	if l.open.Load() {
		if seq := l.seq.Load(); seq != l.seen.Load() && !ended {
			l.seen.Store(seq)
			l.timer.Reset(l.armAfter)
			return
		}
		if !r.tok.TryLock() {
			if ended {
				l.watching.Store(false)
			} else {
				l.timer.Reset(l.armAfter)
			}
			return
		}
		r.readerHolds.Store(false)
		r.leave() // arms, closes the window
	}
	l.watching.Store(false)
	if ended || !l.open.Load() || !l.watching.CompareAndSwap(false, true) {
		return
	}
	// A lazy leave came as it stopped, and left the timer to it.
	l.seen.Store(l.seq.Load())
	l.timer.Reset(l.armAfter)
}
