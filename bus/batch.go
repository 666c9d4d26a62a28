package bus

import "context"

// TakeBatch moves up to len(ds) buffered messages into ds, oldest first,
// without waiting, and returns how many it moved: 0, nil when nothing is
// buffered; 0 and the end status (Err) once the subscription has ended
// and nothing more is given. ds[i] is overwritten: the caller has
// finished with what it held (called Done, or gave it up). Each moved
// delivery is the caller's as one from Next is (call Done on &ds[i]).
//
// It takes the subscription's mutex once for the whole batch and
// allocates nothing: a consumer that reuses ds pays neither a lock nor
// an allocation per message, as TryNext does.
func (s *Subscription) TakeBatch(ds []Delivery) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.n == 0 {
		s.spilled = false // the sink, if any, may take messages again
		return 0, s.err
	}
	n := min(len(ds), s.buf.n)
	if n == 0 {
		return 0, nil
	}
	for i := range n {
		s.fillLocked(&ds[i])
	}
	s.tookLocked()
	return n, nil
}

// Wait returns nil once a message is buffered or the subscription has
// ended (TakeBatch then gives it, or the status), or while its sink holds
// messages not yet taken from it (TakeSunk), or ctx's status
// (as Next's) if ctx ends first. It takes nothing.
//
// Another consumer of the same subscription may take the message
// between Wait and TakeBatch, which then gives 0, nil.
func (s *Subscription) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.buf.n > 0 || s.sunk > 0 || s.err != nil {
			s.mu.Unlock()
			return nil
		}
		ch := s.avail.wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctxStatus(ctx, "bus: waiting for a message")
		}
	}
}
