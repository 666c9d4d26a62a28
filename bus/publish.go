package bus

import (
	"context"

	"github.com/plexus-ipc/plexus"
)

// PublishResult says what one Publish reached. Delivered + Dropped is
// at most the matching fan-out subscriptions plus the matching groups: a
// subscription that ended meanwhile counts in neither.
type PublishResult struct {
	// Delivered: subscriptions whose buffers took the message: each
	// matching fan-out subscription, and at most one member per queue
	// group.
	Delivered int
	// Dropped: matching subscriptions and groups that did not take it:
	// refused by their overflow policy (DropNewest, End), or Block ones
	// still full when the publisher's context ended.
	Dropped int
}

// pending is a Block subscription (or a queue group, by name) that was
// full when the message was routed.
type pending struct {
	s     *Subscription
	queue string
}

// Publish sends msg to every matching subscription without a queue group
// and to one member of each matching queue group. It takes ownership of
// msg, also when it fails: the payload is released exactly once.
//
// It routes under the bus's mutex: every subscription the message can
// enter without waiting gets it there, in the same order for all of them.
// Then, outside the mutex, it waits within ctx for room in each Block
// subscription that was full, one after the other; when ctx ends the
// ones still full lose the message and Publish returns ctx's code
// (DEADLINE_EXCEEDED or CANCELED) with the result so far. A slow Block
// subscriber thus delays its publishers, never the other subscribers.
func (b *Bus) Publish(ctx context.Context, msg *Message) (PublishResult, error) {
	if msg == nil {
		return PublishResult{}, plexus.Errorf(plexus.InvalidArgument, "bus: nil message")
	}
	tokens, err := b.tokensOf(msg.Subject)
	p := newPublication(msg, tokens)
	defer p.finish() // the publisher's reference, last
	if err != nil {
		return PublishResult{}, err
	}
	if ctx.Err() != nil {
		return PublishResult{}, ctxStatus(ctx, "bus: publish")
	}
	var res PublishResult
	var rel releases
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return res, errClosed()
	}
	if p.typ != 0 {
		if err := b.types.admit(p.subject, p.typ); err != nil {
			b.mu.Unlock()
			return res, err
		}
	}
	b.seq++
	b.published++
	p.seq = b.seq
	b.hist.record(&p, &rel)
	waits := b.route(&p, &res, &rel)
	b.mu.Unlock()
	rel.run()
	return res, b.wait(ctx, &p, waits, &res)
}

// route offers p to the matching subscriptions, fan-out ones in
// subscription order, then one member of each group. It returns the
// Block ones that were full; the publisher's reference keeps the message
// for the wait.
func (b *Bus) route(p *publication, res *PublishResult, rel *releases) []pending {
	r := b.routesFor(p.subject, p.tokens)
	if p.typ != 0 && r.typed && b.dropMistyped(r.all, p, rel) {
		// The ones it ended left the sublist, and the cache with them.
		r = b.routesFor(p.subject, p.tokens)
	}
	var waits []pending
	for _, s := range r.fanout {
		s.mu.Lock()
		out := s.offer(p, rel)
		s.mu.Unlock()
		if b.settle(s, out, res, rel) {
			waits = append(waits, pending{s: s})
		}
	}
	for _, gr := range r.groups {
		if m := b.offerGroup(gr.g, gr.cands, p, res, rel); m != nil {
			waits = append(waits, pending{s: m, queue: gr.g.name})
		}
	}
	return waits
}

// offerGroup gives e to a member with room if there is one, else to the
// member the policy picks, whose overflow policy applies. It returns that
// member if it is a full Block one.
func (b *Bus) offerGroup(g *group, cands []*Subscription, p *publication, res *PublishResult, rel *releases) *Subscription {
	m := g.pick(cands, hasRoom)
	if m == nil {
		m = g.pick(cands, anyMember)
	}
	if m == nil { // every candidate ended during this routing
		b.orphaned++
		res.Dropped++
		return nil
	}
	m.mu.Lock()
	out := m.offer(p, rel)
	m.mu.Unlock()
	if b.settle(m, out, res, rel) {
		return m
	}
	return nil
}

// settle counts an offer's outcome and ends a subscription its End
// policy ended. It reports whether the publisher should wait for room.
func (b *Bus) settle(s *Subscription, out outcome, res *PublishResult, rel *releases) bool {
	switch out {
	case accepted:
		res.Delivered++
	case dropped:
		res.Dropped++
	case overflowEnd:
		res.Dropped++
		b.endLocked(s, plexus.Errorf(plexus.ResourceExhausted,
			"bus: subscription to %q ended: its buffer of %d was full (Overflow End)", s.pattern, s.limit), rel)
	case full:
		return true
	}
	return false
}

// wait delivers e to the Block subscriptions that were full, waiting for
// room in each within ctx. It returns the first context error.
func (b *Bus) wait(ctx context.Context, p *publication, waits []pending, res *PublishResult) error {
	var first error
	for _, w := range waits {
		var err error
		if w.queue == "" {
			err = b.waitFanout(ctx, w.s, p, res)
		} else {
			err = b.waitGroup(ctx, w.queue, p, res)
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func (b *Bus) waitFanout(ctx context.Context, s *Subscription, p *publication, res *PublishResult) error {
	s.mu.Lock()
	s.stats.Waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stats.Waiting--
		s.mu.Unlock()
	}()
	for {
		var rel releases
		s.mu.Lock()
		out := s.offer(p, &rel)
		var room <-chan struct{}
		if out == full {
			room = s.room.wait()
		}
		s.mu.Unlock()
		rel.run()
		switch out {
		case accepted:
			res.Delivered++
			return nil
		case gone:
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
			s.mu.Lock()
			s.stats.Dropped++
			s.mu.Unlock()
			res.Dropped++
			return ctxStatus(ctx, "bus: publish to "+p.subject+": waiting for room in a Block subscription")
		}
	}
}

// waitGroup retries the group under bus.mu, since its members may have
// changed while the publisher waited, and waits for room in any member
// (the group's signal), then picks again: a member that stalls full does
// not hold the publisher while another has room.
func (b *Bus) waitGroup(ctx context.Context, queue string, p *publication, res *PublishResult) error {
	var g *group // the group counted waiting
	defer func() {
		if g != nil {
			b.mu.Lock()
			g.waiting--
			b.mu.Unlock()
		}
	}()
	for {
		var rel releases
		b.mu.Lock()
		room, cur, done := b.retryGroup(queue, p, res, &rel)
		if cur != g && !done {
			if g != nil {
				g.waiting--
			}
			g = cur
			g.waiting++
		}
		b.mu.Unlock()
		rel.run()
		if done {
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
			res.Dropped++
			return ctxStatus(ctx, "bus: publish to "+p.subject+": waiting for room in queue group "+queue)
		}
	}
}

// retryGroup offers e to the group again. It returns the group's room
// signal, taken before the members' loads are looked at so that room
// made after the look wakes the publisher, and the group, unless done.
func (b *Bus) retryGroup(queue string, p *publication, res *PublishResult, rel *releases) (<-chan struct{}, *group, bool) {
	var cands []*Subscription
	g := b.groups[queue]
	if g != nil && !b.closed {
		cands = g.matching(p.tokens)
	}
	if len(cands) == 0 {
		b.orphaned++
		res.Dropped++
		return nil, nil, true
	}
	room := g.roomWait()
	m := g.pick(cands, hasRoom)
	if m == nil {
		m = g.pick(cands, anyMember)
	}
	m.mu.Lock()
	out := m.offer(p, rel)
	m.mu.Unlock()
	if b.settle(m, out, res, rel) {
		return room, g, false
	}
	return nil, nil, true
}
