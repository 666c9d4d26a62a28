package session

import "sync"

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
// calls that wait for one.
type admission struct {
	mu      sync.Mutex
	running int
	backlog []waitingCall
}

type waitingCall struct {
	job  serveJob
	debt int64 // the OPEN's link credit, withheld until the call starts
}

// admit counts j as running if there is room, and otherwise queues it
// with its OPEN's cost withheld (dispatching goroutine). It reports
// whether the caller may run j now.
func (s *Session) admit(j serveJob, cost int64) bool {
	c := &s.calls
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running < s.cfg.MaxPeerCalls {
		c.running++
		return true
	}
	c.backlog = append(c.backlog, waitingCall{job: j, debt: cost})
	return false
}

// handlerDone passes a finished handler's place to the first waiting
// call, giving back the credit that call held, or frees the place.
func (s *Session) handlerDone() {
	c := &s.calls
	c.mu.Lock()
	if len(c.backlog) == 0 {
		c.running--
		c.mu.Unlock()
		return
	}
	w := c.backlog[0]
	c.backlog[0] = waitingCall{}
	c.backlog = c.backlog[1:]
	last := len(c.backlog) == 0
	if last {
		c.backlog = nil
	}
	c.mu.Unlock()
	s.repay(w.debt, last)
	s.spawn(w.job)
}

// repay gives back link credit that was withheld for a waiting call or a
// queued notification once it has been served. Grants are batched like the
// dispatcher's, at an eighth of the window, but flush is set when nothing
// waits any more: the peer may be waiting for exactly that credit.
func (s *Session) repay(debt int64, flush bool) {
	owed := s.owed.Add(debt)
	if owed < int64(s.cfg.LinkWindow)/8 && !flush {
		return
	}
	if owed = s.owed.Swap(0); owed > 0 {
		// Added to the enforcement counter before the grant leaves, so
		// the peer can never use credit the dispatcher does not know of.
		s.linkRemaining.Add(owed)
		s.queueCredit(0, owed)
	}
}
