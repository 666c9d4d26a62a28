package session

import (
	"context"
	"sync"
	"sync/atomic"
)

// credit is a send window: a sender may send while it is positive and
// subtracts the frame's cost, so one frame larger than the window can still
// pass (the window goes negative until the receiver grants more). This is
// what lets a payload near the maximum frame size cross any window.
//
// Taking is every frame's path, so it takes no lock while the window is
// positive: one atomic subtraction from n, which inlines, and which takes
// effect if the window was positive before it. A taker that finds it was
// not gives the cost back under mu, waking waiters as any add does (one
// may have found the window spent only for that cost), and then looks
// again under mu before it waits; every add is made under mu, so the add
// that follows wakes it.
type credit struct {
	// n is the window, or closedWindow and below once the window is
	// closed: far enough below zero that no sum of later grants brings it
	// back, so that a taker sees a closed window as a spent one, and
	// looks at err under mu.
	n    atomic.Int64
	mu   sync.Mutex
	wake chan struct{} // closed when credit is added or the window closes; nil if nobody waits
	err  error         // set when the window is closed for good
}

// closedWindow is what close sets the window to (see credit.n).
const closedWindow = -1 << 62

func newCredit(n int64) *credit {
	c := &credit{}
	c.n.Store(n)
	return c
}

// take waits until the window is positive, then subtracts cost. blocking,
// if not nil, is called once before the first wait (see
// receiver.blocking): the credit comes in a frame someone must receive.
func (c *credit) take(ctx context.Context, done <-chan struct{}, cost int64, blocking func()) error {
	if c.n.Add(-cost) > -cost {
		return nil // the window was positive
	}
	return c.takeSlow(ctx, done, cost, blocking)
}

// takeSlow is take for a window found spent (or closed) after take
// subtracted cost from it: it gives cost back, then waits.
func (c *credit) takeSlow(ctx context.Context, done <-chan struct{}, cost int64, blocking func()) error {
	c.add(cost)
	for first := true; ; first = false {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if c.tryTake(cost) {
			c.mu.Unlock()
			return nil
		}
		if c.wake == nil {
			c.wake = make(chan struct{})
		}
		w := c.wake
		c.mu.Unlock()
		if first && blocking != nil {
			blocking()
		}
		select {
		case <-w:
		case <-ctx.Done():
			return ctxStatus(ctx)
		case <-done:
			// The session ended; the loop picks up c.err set by close.
			c.mu.Lock()
			if c.err == nil {
				c.mu.Unlock()
				return errSessionDone
			}
			c.mu.Unlock()
		}
	}
}

// tryTake subtracts cost if the window is positive (and open), without
// waiting.
func (c *credit) tryTake(cost int64) bool {
	for {
		n := c.n.Load()
		if n <= 0 {
			return false
		}
		if c.n.CompareAndSwap(n, n-cost) {
			return true
		}
	}
}

// refund gives back credit taken for a frame that was not sent.
func (c *credit) refund(cost int64) { c.add(cost) }

func (c *credit) add(n int64) {
	c.mu.Lock()
	c.n.Add(n)
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
	c.mu.Unlock()
}

// close fails current and future waiters with err.
func (c *credit) close(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		c.n.Store(closedWindow)
	}
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
	c.mu.Unlock()
}
