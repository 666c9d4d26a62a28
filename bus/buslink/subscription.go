package buslink

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/session"
)

// Subscription is a subscription on a remote bus. Its methods are safe for
// concurrent use.
type Subscription struct {
	st      *session.Stream
	id      uint64
	pattern string
	queue   string
	acks    *acker // queue members only

	in        *inbound      // received, waiting for Next
	closing   chan struct{} // closed by Unsubscribe
	unsubOnce sync.Once
	ended     chan struct{} // closed when the stream has ended
	err       error         // set before ended is closed

	// The reading goroutine's own: the batch decoder, which carries the
	// last subject and tag from one batch to the next, and the inbox
	// that carries it through Recv, kept so that neither is allocated
	// per batch.
	batch batchIn
	inbox inbox
}

// ID is the subscription's ID on the remote bus.
func (s *Subscription) ID() uint64 { return s.id }

// Pattern is the pattern subscribed to.
func (s *Subscription) Pattern() string { return s.pattern }

// Queue is the queue group's name, or "".
func (s *Subscription) Queue() string { return s.queue }

// Ended is closed when the subscription has ended; Err then says why.
func (s *Subscription) Ended() <-chan struct{} { return s.ended }

// Err is nil while the subscription lives, then its status: CANCELED
// after Unsubscribe or ctx's end, the remote bus's status
// (RESOURCE_EXHAUSTED for overflow End, UNAVAILABLE for its Close),
// PEER_DIED or LINK_CLOSED when the link ended.
func (s *Subscription) Err() error {
	select {
	case <-s.ended:
		return s.err
	default:
		return nil
	}
}

// Next returns the next delivery, waiting for one within ctx. Once
// Unsubscribe was called it returns CANCELED; once the subscription has
// ended, what a fan-out subscription had received before the end, then
// its status (a queue member's received deliveries go to the rest of its
// group: Next returns the status at once). The caller calls Done on each
// delivery it gets.
func (s *Subscription) Next(ctx context.Context) (*Delivery, error) {
	select {
	case <-s.closing:
		return nil, errUnsubscribed(s.pattern)
	default:
	}
	waited := false
	for {
		if d := s.in.take(waited); d != nil {
			return d, nil
		}
		waited = true
		select {
		case <-s.in.ready:
			continue
		case <-s.ended:
			if d := s.in.take(true); d != nil {
				return d, nil
			}
			s.in.leave()
			return nil, s.err
		case <-s.closing:
			s.in.leave()
			return nil, errUnsubscribed(s.pattern)
		case <-ctx.Done():
			s.in.leave()
			err := ctx.Err()
			return nil, plexus.WithCause(plexus.CodeOf(err), err, "buslink: waiting for a message: "+err.Error())
		}
	}
}

// Consume calls fn with each delivery in order, on the caller's
// goroutine, and marks it Done when fn returns nil, as
// bus.Subscription.Consume does. It returns when ctx ends, the
// subscription ends (its status), or fn fails (fn's error; the delivery
// is then not Done: a queue member's goes to the rest of its group when
// the subscription ends).
func (s *Subscription) Consume(ctx context.Context, fn func(*Delivery) error) error {
	return bus.ConsumeWith(ctx, s.Next, fn)
}

// Unsubscribe ends the subscription: it sends the acknowledgements of the
// deliveries Done so far, ends its side of the stream, and waits (at most
// UnsubscribeTimeout) for the host to end the bus subscription. What was
// received and not taken by Next is dropped; a queue member's deliveries
// not Done by then go to the rest of its group, and their Done fails. It
// is idempotent.
func (s *Subscription) Unsubscribe() {
	s.unsubOnce.Do(func() {
		close(s.closing)
		releaseAll(s.in.shutdown())
		if s.acks != nil {
			s.acks.stop()
		}
		if s.st.CloseSend() != nil {
			s.st.Close()
		}
		t := time.AfterFunc(UnsubscribeTimeout, s.st.Close)
		<-s.ended
		t.Stop()
	})
}

// read receives the host's batches and queues them for Next. It waits
// while the queue is full (MaxBatch deliveries or batchBytes of data, see
// inbound), receiving nothing more meanwhile, so that the stream's flow
// control holds back the host's pump while the consumer is slow; after
// Unsubscribe it discards what arrives until the end.
func (s *Subscription) read() {
	for {
		ds, err := s.recv()
		if err != nil {
			s.finish(err)
			return
		}
		ok, full := s.in.put(ds)
		if !ok {
			releaseAll(ds)
			continue
		}
		for full && !s.in.hasRoom() {
			select {
			case <-s.in.room:
			case <-s.closing:
				full = false
			case <-s.st.Context().Done(): // Recv reports the end next
				full = false
			}
		}
	}
}

// recv receives one batch: its deliveries and, when the last is large,
// the data that follows it, as a view of its frame (a *session.Lease)
// that Done releases. The slice is the decoder's, reused by the next.
func (s *Subscription) recv() ([]*Delivery, error) {
	s.inbox = inbox{u: &s.batch}
	if err := s.st.Recv(&s.inbox); err != nil {
		return nil, err
	}
	if s.inbox.err != nil {
		return nil, s.inbox.err
	}
	ds, size := s.batch.out, s.batch.large
	d := ds[len(ds)-1]
	if size == 0 {
		return ds, nil
	}
	l := new(session.Lease)
	if err := s.st.Recv(l); err != nil {
		if err == io.EOF {
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: the host ended the stream before the data of delivery %d", d.tag)
		}
		return nil, err
	}
	if uint64(l.Len()) != size {
		l.Release()
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: delivery %d announced %d bytes, the host sent %d", d.tag, size, l.Len())
	}
	d.Data, d.lease = l.Bytes(), l
	return ds, nil
}

// finish records why the stream ended. A malformed message from the host
// abandons the call. A queue member's received deliveries are dropped:
// the host hands them to the rest of the group.
func (s *Subscription) finish(err error) {
	if _, ok := err.(*plexus.Status); ok && plexus.CodeOf(err) == plexus.InvalidArgument {
		s.st.Close()
	}
	select {
	case <-s.closing:
		err = errUnsubscribed(s.pattern)
	default:
		if err == io.EOF {
			err = plexus.Errorf(plexus.Canceled, "buslink: the host ended the subscription to %q", s.pattern)
		}
	}
	s.err = err
	if s.acks != nil {
		s.acks.stop()
		releaseAll(s.in.shutdown())
	}
	close(s.ended)
}

func releaseAll(ds []*Delivery) {
	for _, d := range ds {
		d.release()
	}
}

func errUnsubscribed(pattern string) error {
	return plexus.Errorf(plexus.Canceled, "buslink: unsubscribed from %q", pattern)
}
