package bus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
)

// Subscription receives the messages published to the subjects its
// pattern matches, through a bounded buffer its consumer drains with
// Next or TakeBatch. Its methods are safe for concurrent use.
type Subscription struct {
	bus      *Bus
	id       uint64
	pattern  string
	tokens   []string
	group    *group // nil for fan-out; immutable
	limit    int
	overflow Overflow
	typ      uint64 // SubOptions.Type; immutable

	attached bool // in the bus's sublist and group; guarded by bus.mu

	// load mirrors held() for the group's picking, which reads it under
	// bus.mu without taking mu (queue members only: see loadChanged).
	// It only grows under bus.mu, so a member seen with room keeps it
	// until bus.mu is let go.
	load atomic.Int64

	mu       sync.Mutex
	buf      fifo
	inflight map[uint64]*envelope // queue members: taken, not yet Done, by take order
	taken    uint64               // queue members: messages taken, the last order given
	err      error                // why it ended; nil while live
	ended    chan struct{}
	avail    signal // a message was buffered, or the subscription ended
	room     signal // held went down, or the subscription ended
	stop     func() bool
	stats    SubStats

	// A fan-out subscription's sink (sink.go): the messages it took and
	// holds (sunk, counted in held), whether it refused one since the
	// buffer was last found empty (spilled: it is offered nothing
	// more until then), and the delivery it is handed, reused.
	sink    Sink
	sunk    int
	spilled bool
	sinkD   Delivery
}

// SubStats counts what happened to a subscription's messages.
type SubStats struct {
	// Delivered: messages handed to the consumer by Next, TryNext or
	// TakeBatch (redeliveries included).
	Delivered uint64
	// Dropped: messages this subscription lost: by its overflow policy,
	// by a Block wait that the publisher gave up, and the ones it held
	// when it ended (a fan-out subscription's, or a queue member's when
	// the bus closed).
	Dropped uint64
	// Redistributed: messages handed to the rest of the group when this
	// queue member ended.
	Redistributed uint64
	// Buffered and InFlight are held now: waiting to be taken, and
	// (queue members) taken and not yet Done.
	Buffered, InFlight int
	// Waiting is the publishers waiting for room in this fan-out
	// subscription (Block); a group's waiting publishers are not counted.
	Waiting int
}

// outcome of offering a message to a subscription.
type outcome uint8

const (
	accepted    outcome = iota
	dropped             // the message was dropped by the overflow policy
	full                // Block: the publisher may wait on room
	overflowEnd         // End: the message was dropped; end the subscription
	gone                // the subscription had ended; the caller keeps its reference
)

func newSubscription(b *Bus, pattern string, tokens []string, opts SubOptions) *Subscription {
	s := &Subscription{bus: b, pattern: pattern, tokens: tokens, limit: opts.Buffer, overflow: opts.Overflow, typ: opts.Type, ended: make(chan struct{})}
	if s.limit == 0 {
		s.limit = b.cfg.Buffer
	}
	if opts.Queue != "" {
		s.inflight = make(map[uint64]*envelope)
	}
	return s
}

// ID is the subscription's number on its bus, in subscription order.
func (s *Subscription) ID() uint64 { return s.id }

// Pattern is the pattern the subscription was made with.
func (s *Subscription) Pattern() string { return s.pattern }

// Queue is the queue group's name, or "".
func (s *Subscription) Queue() string {
	if s.group == nil {
		return ""
	}
	return s.group.name
}

// Ended is closed when the subscription ends; Err then says why.
func (s *Subscription) Ended() <-chan struct{} { return s.ended }

// Err is nil while the subscription lives, then the status it ended
// with: CANCELED (Unsubscribe, or its context: DEADLINE_EXCEEDED for a
// deadline), RESOURCE_EXHAUSTED (overflow End), UNAVAILABLE (Bus.Close),
// or what Kill was given.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Buffered, st.InFlight = s.buf.n+s.sunk, len(s.inflight)
	return st
}

// Next returns the oldest buffered message, waiting for one within ctx.
// Once the subscription has ended it returns its status (Err); a message
// still buffered then was dropped or handed to the group. The caller
// calls Done on each delivery it gets.
func (s *Subscription) Next(ctx context.Context) (*Delivery, error) {
	for {
		s.mu.Lock()
		d, err := s.takeLocked()
		if d != nil || err != nil {
			s.mu.Unlock()
			return d, err
		}
		ch := s.avail.wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctxStatus(ctx, "bus: waiting for a message")
		}
	}
}

// TryNext is Next without waiting: nil, nil when nothing is buffered.
func (s *Subscription) TryNext() (*Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked()
}

// Consume calls fn with each message in order, on the caller's goroutine,
// and marks it Done when fn returns nil. It returns when ctx ends, the
// subscription ends (its status), or fn fails (fn's error; the delivery
// is then not Done: a queue member that is ended afterwards hands it to
// the rest of its group). A push consumer is Consume on a goroutine of
// its own; a remote one is Consume whose fn sends on a stream.
func (s *Subscription) Consume(ctx context.Context, fn func(*Delivery) error) error {
	return ConsumeWith(ctx, s.Next, fn)
}

// ConsumeWith is Consume for any subscription whose deliveries have Done
// (bus/buslink's too): next takes the deliveries, fn handles each, and
// one that fn handled without an error is marked Done.
func ConsumeWith[D interface{ Done() error }](ctx context.Context, next func(context.Context) (D, error), fn func(D) error) error {
	for {
		d, err := next(ctx)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
		// An error here means the member ended while fn ran and the
		// message went to another member: at-least-once at that edge.
		_ = d.Done()
	}
}

// Unsubscribe ends the subscription with CANCELED. It is idempotent.
func (s *Subscription) Unsubscribe() {
	s.bus.end(s, plexus.Errorf(plexus.Canceled, "bus: unsubscribed from %q", s.pattern))
}

// Kill ends the subscription as if its consumer died (a plugin's exit,
// later): the same as Unsubscribe, with cause as its status
// (ABORTED if nil). A queue member's messages, in flight ones included,
// go to the rest of its group. Ending an ended subscription does
// nothing.
func (s *Subscription) Kill(cause error) {
	if cause == nil {
		cause = plexus.Errorf(plexus.Aborted, "bus: subscription to %q killed", s.pattern)
	}
	s.bus.end(s, cause)
}

func (s *Subscription) held() int { return s.buf.n + len(s.inflight) + s.sunk }

// takeLocked pops the oldest message into a delivery, or returns the end
// status, or nothing.
func (s *Subscription) takeLocked() (*Delivery, error) {
	if s.buf.n == 0 {
		s.spilled = false
		return nil, s.err
	}
	d := new(Delivery)
	s.fillLocked(d)
	s.tookLocked()
	return d, nil
}

// fillLocked pops the oldest buffered message into *d, overwriting it. A
// queue member's stays held, now in flight, under its take order.
func (s *Subscription) fillLocked(d *Delivery) {
	it := s.buf.pop()
	e := it.env
	var order uint64
	if s.group != nil {
		s.taken++
		order = s.taken
		s.inflight[order] = e
	}
	*d = Delivery{Subject: e.subject, Header: e.header, Data: e.data, Type: e.typ, Seq: e.seq,
		Redelivered: it.redelivered, Replayed: it.replayed, env: e, sub: s, order: order}
	s.stats.Delivered++
}

// tookLocked follows one or more fillLocked: a fan-out subscription's
// load went down; a queue member's did not (its messages are in flight).
func (s *Subscription) tookLocked() {
	if s.group == nil {
		s.heldDown()
	}
}

// ack ends a queue member's delivery if it is still in flight here: the
// order must be in flight with the same message, so a Done repeated, or
// after the member ended (which emptied inflight), finds nothing.
func (s *Subscription) ack(d *Delivery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.inflight[d.order]; !ok || e != d.env {
		return false
	}
	delete(s.inflight, d.order)
	s.heldDown()
	return true
}

func (s *Subscription) heldDown() {
	s.loadChanged()
	s.room.notify()
	if s.group != nil {
		s.group.notifyRoom()
	}
}

// loadChanged mirrors held() into load for a queue member's group; a
// fan-out subscription has no reader of it, and an atomic store is a
// full fence on some processors (x86's XCHG), paid per message.
func (s *Subscription) loadChanged() {
	if s.group != nil {
		s.load.Store(int64(s.held()))
	}
}

func (s *Subscription) pushLocked(it item) {
	s.buf.push(it)
	s.loadChanged()
	s.avail.notify()
}

// offer gives the subscription the message being published. A buffer
// that takes it takes a reference of its own (a sink copies it); the
// caller's publication keeps the message while a full Block
// subscription's publisher waits.
func (s *Subscription) offer(p *publication, rel *releases) outcome {
	if s.err != nil {
		return gone
	}
	if s.held() < s.limit {
		if !s.sinkLocked(p) {
			s.pushLocked(item{env: p.retained()})
		}
		return accepted
	}
	switch {
	case s.overflow == Block:
		return full
	case s.overflow == DropOldest && s.buf.n > 0:
		s.evictOldest(rel)
		s.pushLocked(item{env: p.retained()})
		return accepted
	}
	// DropOldest with everything in flight, or in a sink, has nothing
	// older to drop.
	s.stats.Dropped++
	if s.overflow == End {
		return overflowEnd
	}
	return dropped
}

// redeliver takes a message of a member that ended. It never waits and
// never ends the subscription (a member should not end for another's
// death): when full, Block takes it beyond Buffer up to twice Buffer,
// since the group's total does not grow (the message only moves), End
// drops it as DropNewest does, DropOldest makes room. It returns false
// when it did not take it and did not drop it (Block, twice full): the
// caller orphans it.
func (s *Subscription) redeliver(it item, rel *releases) bool {
	h := s.held()
	switch {
	case h < s.limit || (s.overflow == Block && h < 2*s.limit):
	case s.overflow == Block:
		return false
	case s.overflow == DropOldest && s.buf.n > 0:
		s.evictOldest(rel)
	default:
		s.stats.Dropped++
		rel.add(it.env)
		return true
	}
	s.pushLocked(it)
	return true
}

func (s *Subscription) evictOldest(rel *releases) {
	old := s.buf.pop()
	rel.add(old.env)
	s.stats.Dropped++
}

// endLocked marks the subscription ended and empties it. With keep (a
// queue member of a live bus) it returns what it held for the group, in
// flight first in the order taken, then buffered; otherwise it drops it.
func (s *Subscription) endLocked(err error, keep bool, rel *releases) []item {
	s.err = err
	close(s.ended)
	s.avail.notify()
	s.room.notify()
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	orders := make([]uint64, 0, len(s.inflight))
	for o := range s.inflight {
		orders = append(orders, o)
	}
	slices.Sort(orders)
	items := make([]item, 0, len(orders)+s.buf.n)
	for _, o := range orders {
		items = append(items, item{env: s.inflight[o]})
	}
	items = append(items, s.buf.drain()...)
	s.inflight = nil
	s.load.Store(0)
	if s.group != nil {
		s.group.notifyRoom() // a publisher waiting on the group looks again
	}
	if keep {
		s.stats.Redistributed += uint64(len(items))
		return items
	}
	for _, it := range items {
		rel.add(it.env)
	}
	s.stats.Dropped += uint64(len(items))
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ctxStatus(ctx context.Context, msg string) error {
	err := ctx.Err()
	return plexus.WithCause(plexus.CodeOf(err), err, msg+": "+err.Error())
}
