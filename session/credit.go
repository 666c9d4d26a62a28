package session

import (
	"context"
	"sync"
)

// credit is a send window: a sender may send while it is positive and
// subtracts the frame's cost, so one frame larger than the window can still
// pass (the window goes negative until the receiver grants more). This is
// what lets a payload near the maximum frame size cross any window.
type credit struct {
	mu   sync.Mutex
	n    int64
	wake chan struct{} // closed when credit is added or the window closes; nil if nobody waits
	err  error         // set when the window is closed for good
}

func newCredit(n int64) *credit { return &credit{n: n} }

// take waits until the window is positive, then subtracts cost.
func (c *credit) take(ctx context.Context, done <-chan struct{}, cost int64) error {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if c.n > 0 {
			c.n -= cost
			c.mu.Unlock()
			return nil
		}
		if c.wake == nil {
			c.wake = make(chan struct{})
		}
		w := c.wake
		c.mu.Unlock()
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

// tryTake subtracts cost if the window is positive, without waiting.
func (c *credit) tryTake(cost int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.n <= 0 {
		return false
	}
	c.n -= cost
	return true
}

// refund gives back credit taken for a frame that was not sent.
func (c *credit) refund(cost int64) { c.add(cost) }

func (c *credit) add(n int64) {
	c.mu.Lock()
	c.n += n
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
	}
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
	c.mu.Unlock()
}
