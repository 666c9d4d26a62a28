package bus

import "sync"

// group is a queue group: the members sharing a queue name, each message
// to one of those whose pattern matches its subject. Guarded by bus.mu,
// but for the room signal.
type group struct {
	name    string
	policy  QueuePolicy
	members []*Subscription // in subscription order (by ID)
	cursor  uint64          // ID of the member picked last
	waiting int             // publishers in waitGroup

	// room is raised whenever a member's load goes down, a member ends
	// or one joins: a publisher that found every member full waits on it
	// and picks again, so that room in any member lets it go on, not
	// only room in the member it picked. roomMu is taken under a
	// member's mu (or bus.mu) and takes nothing.
	roomMu sync.Mutex
	room   signal
}

func (g *group) join(s *Subscription) {
	g.members = append(g.members, s)
	g.notifyRoom()
}

// roomWait returns the channel the next notifyRoom closes.
func (g *group) roomWait() <-chan struct{} {
	g.roomMu.Lock()
	defer g.roomMu.Unlock()
	return g.room.wait()
}

func (g *group) notifyRoom() {
	g.roomMu.Lock()
	g.room.notify()
	g.roomMu.Unlock()
}

func (g *group) leave(s *Subscription) {
	for i, m := range g.members {
		if m == s {
			g.members = append(g.members[:i], g.members[i+1:]...)
			return
		}
	}
}

// matching returns the members whose patterns match the subject.
func (g *group) matching(subject []string) []*Subscription {
	var out []*Subscription
	for _, m := range g.members {
		if matchTokens(m.tokens, subject) {
			out = append(out, m)
		}
	}
	return out
}

// pick chooses among candidates (attached members, by ID) those fits
// accepts, by the group's policy, and remembers the choice for the next
// turn. Round-robin takes the first after the previous pick; least-loaded
// the one holding least, ties to the first after the previous pick.
func (g *group) pick(cands []*Subscription, fits func(*Subscription) bool) *Subscription {
	start := 0
	for start < len(cands) && cands[start].id <= g.cursor {
		start++
	}
	var best *Subscription
	var bestLoad int64
	for k := range cands {
		m := cands[(start+k)%len(cands)]
		if !m.attached || !fits(m) {
			continue
		}
		if g.policy != LeastLoaded {
			best = m
			break
		}
		if l := m.load.Load(); best == nil || l < bestLoad {
			best, bestLoad = m, l
		}
	}
	if best != nil {
		g.cursor = best.id
	}
	return best
}

func hasRoom(m *Subscription) bool { return m.load.Load() < int64(m.limit) }

// canOverdraw: a Block member may take a redelivery beyond its Buffer,
// up to twice it.
func canOverdraw(m *Subscription) bool {
	return m.overflow == Block && m.load.Load() < 2*int64(m.limit)
}

func anyMember(*Subscription) bool { return true }

// redistribute hands a member's messages to the rest of its group: each
// to a member with room if there is one, else to a Block member under
// twice its Buffer, else to the member the policy picks, whose overflow
// policy decides (redeliver). A message no member can take is dropped
// and counted in Stats.Orphaned. Called with bus.mu held.
func (b *Bus) redistribute(g *group, items []item, rel *releases) {
	for _, it := range items {
		it.redelivered, it.replayed = true, false
		cands := g.matching(it.env.tokens)
		m := g.pick(cands, hasRoom)
		if m == nil {
			m = g.pick(cands, canOverdraw)
		}
		if m == nil {
			m = g.pick(cands, anyMember)
		}
		ok := false
		if m != nil {
			m.mu.Lock()
			ok = m.redeliver(it, rel)
			m.mu.Unlock()
		}
		if !ok {
			b.orphaned++
			rel.add(it.env)
		}
	}
}
