package bus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
)

// Bus routes published messages to the subscriptions whose patterns
// match their subjects. It is safe for concurrent use and starts no
// goroutines of its own.
type Bus struct {
	cfg Config

	mu        sync.Mutex // before any Subscription.mu
	closed    bool
	subs      sublist[*Subscription]
	live      map[*Subscription]struct{}
	groups    map[string]*group
	hist      history
	types     subjectTypes
	nextID    uint64
	seq       uint64
	published uint64
	orphaned  uint64
	scratch   []*Subscription // match results, reused under mu
	routes    routeCache      // emptied whenever subs changes
	// last is the subject last published and its tokens (see tokensOf).
	last atomic.Pointer[parsedSubject]
}

// parsedSubject is a concrete subject and its tokens, which nobody
// changes once parsed: envelopes, history and matching only read them.
type parsedSubject struct {
	subject string
	tokens  []string
}

// tokensOf validates subject and splits it into tokens. The last subject
// published is kept with its tokens: publishers mostly publish on one
// subject after another, and splitting it again would cost an allocation
// per message.
func (b *Bus) tokensOf(subject string) ([]string, error) {
	if p := b.last.Load(); p != nil && p.subject == subject {
		return p.tokens, nil
	}
	tokens, err := parse(subject, false)
	if err == nil {
		b.last.Store(&parsedSubject{subject: subject, tokens: tokens})
	}
	return tokens, err
}

// Stats counts a Bus's traffic and state.
type Stats struct {
	// Published: messages accepted by Publish.
	Published uint64
	// Orphaned: messages of queue members that ended which no remaining
	// member could take (none matched, or all were Block members at twice
	// their Buffer), and group messages whose publisher's wait found no
	// member left. They were dropped.
	Orphaned uint64
	// Subscriptions and Groups live now.
	Subscriptions, Groups int
	// HistorySubjects and HistoryMessages retained now.
	HistorySubjects, HistoryMessages int
}

// New returns a Bus configured by c. It fails with INVALID_ARGUMENT for a
// negative size or an invalid history pattern.
func New(c Config) (*Bus, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	return &Bus{cfg: c, live: make(map[*Subscription]struct{}), groups: make(map[string]*group), hist: newHistory(c),
		types: subjectTypes{max: c.HistorySubjects}}, nil
}

// Subscribe creates a subscription to the subjects pattern matches. It
// ends when ctx does (with ctx's code), at Unsubscribe or Kill, by its
// overflow policy End, or at Close. With opts.History, the retained
// messages of the matching subjects are buffered first, in publish
// order, at most Buffer of them (the newest).
func (b *Bus) Subscribe(ctx context.Context, pattern string, opts SubOptions) (*Subscription, error) {
	tokens, err := parse(pattern, true)
	if err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctxStatus(ctx, "bus: subscribe")
	}
	s := newSubscription(b, pattern, tokens, opts)
	if err := b.attach(s, opts); err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		// AfterFunc starts a goroutine only once ctx is done; endLocked
		// stops it, so a subscription that ends otherwise leaves nothing.
		stop := context.AfterFunc(ctx, func() {
			b.end(s, ctxStatus(ctx, "bus: the subscription's context ended"))
		})
		s.mu.Lock()
		if s.err == nil {
			s.stop, stop = stop, nil
		}
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	return s, nil
}

func (b *Bus) attach(s *Subscription, opts SubOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed()
	}
	if opts.Type != 0 {
		if err := b.types.conflict(s.pattern, opts.Type); err != nil {
			return err
		}
	}
	b.nextID++
	s.id = b.nextID
	if opts.Queue != "" {
		g, err := b.joinGroup(s, opts)
		if err != nil {
			return err
		}
		s.group = g
	}
	s.attached = true
	b.subs.insert(s.tokens, s)
	b.routes.invalidate()
	b.live[s] = struct{}{}
	if opts.History > 0 {
		// Under bus.mu, as Publish records and routes: a message is
		// either retained before this point, and replayed, or published
		// after it, and routed here; never both, never neither.
		b.replay(s, opts.History)
	}
	return nil
}

func (b *Bus) joinGroup(s *Subscription, opts SubOptions) (*group, error) {
	g := b.groups[opts.Queue]
	if g == nil {
		p := opts.QueuePolicy
		if p == DefaultPolicy {
			p = b.cfg.QueuePolicy
		}
		g = &group{name: opts.Queue, policy: p}
		b.groups[opts.Queue] = g
	} else if opts.QueuePolicy != DefaultPolicy && opts.QueuePolicy != g.policy {
		return nil, plexus.Errorf(plexus.FailedPrecondition, "bus: queue group %q is %v, not %v", g.name, g.policy, opts.QueuePolicy)
	}
	g.join(s)
	return g, nil
}

func (b *Bus) replay(s *Subscription, n int) {
	envs := b.hist.collect(s.tokens, n)
	if len(envs) > s.limit {
		envs = envs[len(envs)-s.limit:]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range envs {
		e.retain()
		s.pushLocked(item{env: e, replayed: true})
	}
}

// end ends s with err unless it has ended.
func (b *Bus) end(s *Subscription, err error) {
	var rel releases
	b.mu.Lock()
	b.endLocked(s, err, &rel)
	b.mu.Unlock()
	rel.run()
}

func (b *Bus) endLocked(s *Subscription, err error, rel *releases) {
	if !s.attached {
		return
	}
	s.attached = false
	b.subs.remove(s.tokens, s)
	b.routes.invalidate()
	delete(b.live, s)
	g := s.group
	if g != nil {
		g.leave(s)
		if len(g.members) == 0 {
			delete(b.groups, g.name)
		}
	}
	s.mu.Lock()
	items := s.endLocked(err, g != nil && !b.closed, rel)
	s.mu.Unlock()
	if len(items) > 0 {
		b.redistribute(g, items, rel)
	}
}

// Close ends every subscription with UNAVAILABLE, dropping what they
// held, and drops the history; Publish and Subscribe then fail with
// UNAVAILABLE. Deliveries already taken stay valid: their Done releases
// them. Close is idempotent.
func (b *Bus) Close() {
	var rel releases
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		for s := range b.live {
			b.endLocked(s, errClosed(), &rel)
		}
		b.hist.clear(&rel)
	}
	b.mu.Unlock()
	rel.run()
}

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Published: b.published, Orphaned: b.orphaned, Subscriptions: len(b.live), Groups: len(b.groups),
		HistorySubjects: len(b.hist.subjects), HistoryMessages: b.hist.msgs}
}

func errClosed() error { return plexus.Errorf(plexus.Unavailable, "bus: closed") }

func byID(a, b *Subscription) int { return compareU64(a.id, b.id) }

func sortBySeq(envs []*envelope) {
	slices.SortFunc(envs, func(a, b *envelope) int { return compareU64(a.seq, b.seq) })
}
