package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Dispatch chooses a pool member for each call.
type Dispatch int

const (
	// RoundRobin takes the live, healthy members in turn.
	RoundRobin Dispatch = iota
	// LeastLoaded takes the live, healthy member with the fewest calls in
	// flight through the pool (the first such member on a tie).
	LeastLoaded
	// StickyLeader sends every call to one member, the leader, while it
	// is live and healthy; when it is not (its plugin died, is
	// restarting, or failed its health check), the next live, healthy
	// member in order becomes the leader, and stays so after the old one
	// recovers. For plugins that keep state (a cache, a connection) that
	// calls should find warm, with failover. Calls in flight when the
	// leader died fail with PeerDied; with a retry policy
	// (package retry) idempotent ones are retried, on the new leader.
	StickyLeader
)

// PoolConfig sizes a Pool.
type PoolConfig struct {
	// Size is the number of plugin instances; default 2.
	Size     int
	Dispatch Dispatch
	// HealthCheck, if set, runs against each member every HealthInterval
	// (default 5 s), bounded by HealthTimeout (default 1 s); a member whose
	// check fails gets no new calls until a check passes again. A member
	// whose plugin is dead or restarting is skipped without a check.
	HealthCheck    func(ctx context.Context, c session.Conn) error
	HealthInterval time.Duration
	HealthTimeout  time.Duration
}

type member struct {
	c        *Client
	inflight atomic.Int64
	sick     atomic.Bool
}

// Pool runs several instances of one plugin behind one session.Conn.
// Each member is a Client with the pool's Config (restart policy
// included). A call goes to a member chosen by Dispatch; if that member's
// plugin is found dead before the call is sent, or refuses it unstarted
// (GoAway), the call goes to the next member. A call that reached a
// member that then died fails with PeerDied and is not retried: it may
// have run.
//
// Concurrency: a Pool is safe for concurrent use.
type Pool struct {
	pc      PoolConfig
	members []*member
	next    atomic.Uint64
	leader  atomic.Int32 // StickyLeader: the leader's index
	stop    chan struct{}
	health  sync.WaitGroup
	once    sync.Once
}

var _ session.Conn = (*Pool)(nil)

// NewPool checks the configurations and returns a pool that has not
// started its plugins.
func NewPool(cfg Config, pc PoolConfig) (*Pool, error) {
	if pc.Size <= 0 {
		pc.Size = 2
	}
	if pc.Size > 64 {
		return nil, fmt.Errorf("host: pool of %d instances; at most 64", pc.Size)
	}
	if pc.HealthInterval <= 0 {
		pc.HealthInterval = 5 * time.Second
	}
	if pc.HealthTimeout <= 0 {
		pc.HealthTimeout = time.Second
	}
	p := &Pool{pc: pc, stop: make(chan struct{})}
	for i := range pc.Size {
		mc := cfg
		if mc.Name == "" {
			mc.Name = fmt.Sprintf("%s#%d", baseName(cfg.Path), i)
		} else {
			mc.Name = fmt.Sprintf("%s#%d", cfg.Name, i)
		}
		c, err := New(mc)
		if err != nil {
			return nil, err
		}
		p.members = append(p.members, &member{c: c})
	}
	return p, nil
}

// Start starts every member concurrently; if any fails, all are closed
// and the first error is returned.
func (p *Pool) Start(ctx context.Context) error {
	errs := make([]error, len(p.members))
	var wg sync.WaitGroup
	for i, m := range p.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.c.Start(ctx) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = p.Close()
		return err
	}
	if p.pc.HealthCheck != nil {
		p.health.Add(1)
		go p.checkHealth()
	}
	return nil
}

// Members returns the pool's clients, in order.
func (p *Pool) Members() []*Client {
	out := make([]*Client, len(p.members))
	for i, m := range p.members {
		out[i] = m.c
	}
	return out
}

func (p *Pool) checkHealth() {
	defer p.health.Done()
	t := time.NewTicker(p.pc.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		for _, m := range p.members {
			if !alive(m.c.cur.Load()) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), p.pc.HealthTimeout)
			err := p.pc.HealthCheck(ctx, m.c)
			cancel()
			if was := m.sick.Swap(err != nil); was != (err != nil) {
				m.c.log.Warn("pool health check changed", "healthy", err == nil, "error", err)
			}
		}
	}
}

// pick returns a live, healthy member not in tried, or nil, with one more
// call counted in flight on it (the caller takes it off again).
func (p *Pool) pick(tried uint64) *member {
	n := len(p.members)
	usable := func(i int) bool {
		m := p.members[i]
		return tried&(1<<uint(i)) == 0 && !m.sick.Load() && alive(m.c.cur.Load())
	}
	switch p.pc.Dispatch {
	case LeastLoaded:
		return p.leastLoaded(usable)
	case StickyLeader:
		return p.sticky(usable)
	}
	start := int(p.next.Add(1)-1) % n
	for k := range n {
		if i := (start + k) % n; usable(i) {
			p.members[i].inflight.Add(1)
			return p.members[i]
		}
	}
	return nil
}

// leastLoaded counts a call on the usable member with the fewest in
// flight. The count is taken only if it is still the one the choice was
// made on: callers that choose at the same moment would otherwise all
// take the same idle member. After a few lost races it takes the member
// anyway (a choice slightly off beats a caller that spins).
func (p *Pool) leastLoaded(usable func(int) bool) *member {
	for attempt := 0; ; attempt++ {
		var best *member
		var load int64
		for i, m := range p.members {
			if v := m.inflight.Load(); usable(i) && (best == nil || v < load) {
				best, load = m, v
			}
		}
		if best == nil {
			return nil
		}
		if best.inflight.CompareAndSwap(load, load+1) {
			return best
		}
		if attempt == 2*len(p.members) {
			best.inflight.Add(1)
			return best
		}
	}
}

// sticky counts a call on the leader if it is usable, and otherwise
// elects the first usable member after it, in order, as the new leader.
// Callers that find the leader gone at the same moment elect the same
// member, or one of them wins the swap and the others follow it.
func (p *Pool) sticky(usable func(int) bool) *member {
	n := len(p.members)
	for range 4 {
		cur := int(p.leader.Load())
		if usable(cur) {
			p.members[cur].inflight.Add(1)
			return p.members[cur]
		}
		next := -1
		for k := 1; k <= n; k++ {
			if i := (cur + k) % n; usable(i) {
				next = i
				break
			}
		}
		if next < 0 {
			return nil
		}
		if p.leader.CompareAndSwap(int32(cur), int32(next)) {
			p.members[next].c.log.Warn("pool leader changed", "from", p.members[cur].c.cfg.Name, "to", p.members[next].c.cfg.Name)
		}
	}
	return nil
}

// Leader returns the pool's leader under StickyLeader (the member that
// gets the calls), or nil under another Dispatch.
func (p *Pool) Leader() *Client {
	if p.pc.Dispatch != StickyLeader {
		return nil
	}
	return p.members[p.leader.Load()].c
}

// fallback returns a member not in tried even if dead or sick, so that a
// call waits for a restart (within its context) when nothing is live.
func (p *Pool) fallback(tried uint64) *member {
	for i, m := range p.members {
		if tried&(1<<uint(i)) == 0 {
			return m
		}
	}
	return nil
}

func (p *Pool) index(m *member) int {
	for i, x := range p.members {
		if x == m {
			return i
		}
	}
	return -1
}

// unsent reports whether err says the call never started in the plugin:
// it never left this side, or the member refused it unstarted with its
// GOAWAY (both carry session.ErrNotSent), so another member may take it.
// A handler's own UNAVAILABLE is not retried: the call may have run.
func unsent(err error) bool { return errors.Is(err, session.ErrNotSent) }

// route runs call on members until one accepts it: a member whose session
// is already over before the call, or that refuses it unstarted, is
// skipped; any other outcome is final.
func (p *Pool) route(ctx context.Context, call func(s *session.Session) error) error {
	var tried uint64
	var last error = plexus.Errorf(plexus.Unavailable, "host: pool has no members")
	for range len(p.members) {
		m := p.pick(tried)
		if m == nil {
			if m = p.fallback(tried); m == nil {
				break
			}
			m.inflight.Add(1)
		}
		tried |= 1 << uint(p.index(m))
		before, err := p.callOn(ctx, m, call)
		m.inflight.Add(-1)
		if before {
			if ctx.Err() != nil {
				return err
			}
			last = err
			continue
		}
		if err != nil && unsent(err) && ctx.Err() == nil {
			last = err
			continue
		}
		return err
	}
	return last
}

// callOn makes call on m's session. before reports an error from before
// the call was made: no session within ctx, or one already over.
func (p *Pool) callOn(ctx context.Context, m *member, call func(s *session.Session) error) (before bool, err error) {
	s, err := m.c.session(ctx)
	if err != nil {
		return true, err
	}
	// Err is set before Done is closed, while the transport shuts down:
	// checking it leaves the shortest window in which a call can fail
	// with PeerDied without having been sent.
	if err := s.Err(); err != nil {
		return true, err // dead before the call: it cannot have run
	}
	return false, call(s)
}

// Invoke makes a unary call on a member.
func (p *Pool) Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error {
	return p.route(ctx, func(s *session.Session) error { return s.Invoke(ctx, method, req, resp) })
}

// NewStream opens a streaming call on a member. The stream's own
// messages are not counted in the member's load once it is open.
func (p *Pool) NewStream(ctx context.Context, method uint64, first plexus.Marshaler, closeSend bool) (*session.Stream, error) {
	var st *session.Stream
	err := p.route(ctx, func(s *session.Session) error {
		var err error
		st, err = s.NewStream(ctx, method, first, closeSend)
		return err
	})
	return st, err
}

// Notify sends a notification to a member.
func (p *Pool) Notify(ctx context.Context, method uint64, m plexus.Marshaler) error {
	return p.route(ctx, func(s *session.Session) error { return s.Notify(ctx, method, m) })
}

// Close closes every member (concurrently) and stops the health checks.
func (p *Pool) Close() error {
	p.once.Do(func() { close(p.stop) })
	p.health.Wait()
	var wg sync.WaitGroup
	for _, m := range p.members {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.c.Close() }()
	}
	wg.Wait()
	return nil
}

func baseName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// Stats returns each member's Client.Stats, in member order (see
// Members).
func (p *Pool) Stats() []ClientStats {
	out := make([]ClientStats, len(p.members))
	for i, m := range p.members {
		out[i] = m.c.Stats()
	}
	return out
}
