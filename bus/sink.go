package bus

import "github.com/plexus-ipc/plexus"

// Sink takes a fan-out subscription's messages as Publish routes them, on
// the publisher's goroutine, in place of the subscription's buffer: the
// way for a consumer that only encodes each message for a stream (a
// remote subscriber's, bus/buslink) to skip a buffer, a goroutine switch
// and a reference per message. The sink copies what it keeps (it has
// the message only during Put) and hands it on by itself.
//
// The subscription calls Put with its mutex held, so Put is serialised
// with every other call on the subscription; it must not block, nor call
// the subscription's methods.
type Sink interface {
	// Put takes d's message, or returns false to leave it to the
	// subscription's buffer. d and its fields are valid only during the
	// call, and Done is not called on it.
	Put(d *Delivery) bool
}

// SetSink makes k take the subscription's messages from now on (see
// Sink), which it does in order with the buffer:
//
//   - While messages are buffered, the sink is offered none: a message
//     the sink refused, and any message buffered before SetSink (history
//     replayed), go to the buffer, and so does every later one until
//     TakeBatch finds the buffer empty. So whatever the sink holds is
//     older than whatever is buffered.
//   - A consumer therefore takes in this order: TakeBatch first, then
//     what the sink holds, handing on the sink's before the batch's
//     (TakeBatch's messages, if any, are newer than everything the sink
//     held until then, and the sink takes nothing more until the buffer
//     is empty again).
//   - The messages the sink took count against Buffer, as buffered ones
//     do, until the consumer takes them from it (TakeSunk, or Drained
//     for a sink with a lock of its own): the
//     overflow policy applies to them the same way, except that
//     DropOldest has no buffered message to drop while the sink holds
//     them all (as with a queue member's in-flight ones), so it drops
//     the arriving one. Put counts a message as delivered
//     (SubStats.Delivered).
//
// It fails with FAILED_PRECONDITION for a queue member (each of its
// messages stays in flight until Done), and on a subscription that has
// a sink or has ended.
func (s *Subscription) SetSink(k Sink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.group != nil:
		return plexus.Errorf(plexus.FailedPrecondition, "bus: a sink on queue member %q", s.pattern)
	case s.sink != nil:
		return plexus.Errorf(plexus.FailedPrecondition, "bus: subscription to %q has a sink already", s.pattern)
	case s.err != nil:
		return s.err
	}
	s.sink = k
	s.spilled = s.buf.n > 0
	return nil
}

// TakeSunk runs take with the subscription's mutex held, the mutex Put
// runs under: a consumer that takes the sink's messages there needs no
// lock of the sink's own, so the sink pays a lock per batch taken
// rather than one per message put. take returns how many messages it
// took, which stop counting against Buffer (a publisher waiting for room,
// Block, looks again once a quarter of Buffer is free); it must not
// block, nor call the subscription's methods.
func (s *Subscription) TakeSunk(take func() int) {
	s.mu.Lock()
	n := take()
	if n < 0 || n > s.sunk {
		s.mu.Unlock()
		panic("bus: a sink gave up more messages than it took")
	}
	s.sunk -= n
	// A publisher waiting for room (Block) is woken once a quarter of
	// Buffer is free, not at every take: it then publishes a quarter of
	// Buffer in one run instead of a batch per wake-up (a sink's
	// consumer takes a batch at a time, and each wake-up costs both
	// goroutines a trip through the scheduler). Every take until the sink
	// is empty comes here, so the wake-up always comes.
	if n > 0 && s.held() <= s.limit-s.limit/4 {
		s.heldDown()
	}
	s.mu.Unlock()
}

// Drained is TakeSunk for a sink that guards its messages itself: n of
// the messages it took were handed on.
func (s *Subscription) Drained(n int) {
	s.TakeSunk(func() int { return n })
}

// sinkLocked offers the message to the sink, if there is one and it may
// be offered (nothing buffered since it last refused); the caller has
// checked that the subscription has room. It reports whether the sink
// took it (a copy: the message needs no envelope for it).
func (s *Subscription) sinkLocked(p *publication) bool {
	if s.sink == nil || s.spilled {
		return false
	}
	d := &s.sinkD
	// Without sub: Done on it fails as on the zero Delivery.
	d.Subject, d.Header, d.Data, d.Type, d.Seq = p.subject, p.header, p.data, p.typ, p.seq
	took := s.sink.Put(d)
	*d = Delivery{} // keeps nothing of the message
	if !took {
		s.spilled = true
		return false
	}
	s.sunk++
	s.stats.Delivered++
	s.avail.notify()
	return true
}
