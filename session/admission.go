package session

import (
	"sync"
	"sync/atomic"
)

// The peer decides how many calls it opens; each one this side serves
// holds a goroutine and its channel until the handler returns. So at most
// Config.MaxPeerCalls handlers run for the peer's calls at once, and a
// call beyond that waits, in arrival order, with no goroutine, until one
// returns. A waiting call keeps the flow-control credit of its OPEN from
// the link's window until it starts (see onOpen): a peer that opens calls
// faster than they finish runs out of credit and waits too, and one that
// sends without credit breaks the protocol. What waits is thereby bounded
// by the link window (at most LinkWindow/64 OPEN frames), as queued
// notifications are (see onNotify).

// admission counts the running handlers of the peer's calls and holds the
// calls that wait for one. The common case (room, nobody waiting) takes
// two atomic operations and no lock, on the dispatcher and on the
// handler's goroutine alike. A handler that ends and a call that starts
// to wait each look at the other's counter after writing their own, so
// that one of them always sees the other (see drain).
type admission struct {
	running atomic.Int32
	waiting atomic.Int32 // len(backlog)
	mu      sync.Mutex
	backlog []waitingCall
}

type waitingCall struct {
	job  serveJob
	debt int64 // the OPEN's link credit, withheld until the call starts
}

// admit counts j as running if there is room, and otherwise queues it
// with its OPEN's cost withheld (dispatching goroutine). It reports
// whether the caller may run j now.
func (sv *server) admit(j serveJob, cost int64) bool {
	c := &sv.calls
	if c.waiting.Load() == 0 {
		if c.running.Add(1) <= int32(sv.s.cfg.MaxPeerCalls) {
			return true
		}
		c.running.Add(-1)
	}
	c.mu.Lock()
	c.backlog = append(c.backlog, waitingCall{job: j, debt: cost})
	c.waiting.Add(1)
	c.mu.Unlock()
	sv.drain() // a handler may have ended since running was read
	return false
}

// handlerDone frees a finished handler's place. When calls wait, the place
// goes to the first of them instead, and the goroutine that ran the
// finished handler gets it to run: spawning a new goroutine for it while
// the old one winds down would let the goroutines of the peer's calls
// outnumber MaxPeerCalls for as long as that takes, by as many handlers
// as end at once (all of them, when the peer cancels its calls).
func (sv *server) handlerDone() (serveJob, bool) {
	c := &sv.calls
	if c.waiting.Load() > 0 {
		c.mu.Lock()
		if w, last, ok := c.pop(); ok {
			c.mu.Unlock()
			sv.repay(w.debt, last)
			return w.job, true
		}
		c.mu.Unlock()
	}
	c.running.Add(-1)
	if c.waiting.Load() > 0 {
		sv.drain()
	}
	return serveJob{}, false
}

// pop takes the first waiting call, reporting whether it was the last
// (c.mu held).
func (c *admission) pop() (w waitingCall, last, ok bool) {
	if len(c.backlog) == 0 {
		return waitingCall{}, false, false
	}
	w = c.backlog[0]
	c.backlog[0] = waitingCall{}
	c.backlog = c.backlog[1:]
	c.waiting.Add(-1)
	if last = len(c.backlog) == 0; last {
		c.backlog = nil
	}
	return w, last, true
}

// drain starts waiting calls while there is room, each on a worker, and
// gives back the credit they held.
func (sv *server) drain() {
	c := &sv.calls
	c.mu.Lock()
	for len(c.backlog) > 0 {
		if c.running.Add(1) > int32(sv.s.cfg.MaxPeerCalls) {
			c.running.Add(-1)
			break
		}
		w, last, _ := c.pop()
		c.mu.Unlock()
		sv.repay(w.debt, last)
		sv.spawn(w.job)
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// repay gives back link credit that was withheld for a waiting call or a
// queued notification once it has been served. Grants are batched like the
// dispatcher's, at an eighth of the window, but flush is set when nothing
// waits any more: the peer may be waiting for exactly that credit.
func (sv *server) repay(debt int64, flush bool) {
	s := sv.s
	owed := sv.owed.Add(debt)
	if owed < int64(s.cfg.LinkWindow)/8 && !flush {
		return
	}
	if owed = sv.owed.Swap(0); owed > 0 {
		// Counted before the grant leaves, so the peer can never use
		// credit the dispatcher does not know of (see regranted).
		s.disp.regranted.Add(owed)
		s.ctl.grantLink(owed)
	}
}
