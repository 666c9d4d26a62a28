package bus

import "slices"

// routeCacheMax bounds the subjects whose routes are cached. Beyond it
// the cache is emptied wholesale (as NATS's sublist cache is): cheaper
// than tracking recency, and a publisher on a few hot subjects refills
// it at once.
const routeCacheMax = 256

// subjectRoutes is the subscriptions a concrete subject reaches,
// computed once from the sublist. Its slices are never modified once
// made: route reads them while the subscriptions it offers to may end
// (which empties the cache) under it.
type subjectRoutes struct {
	all    []*Subscription // every match, by ID
	fanout []*Subscription // those without a group, by ID
	groups []groupRoute    // by their first matching member's ID
	typed  bool            // some match has a Type: typed messages check them
}

// groupRoute is a group's members that match the subject, by ID.
type groupRoute struct {
	g     *group
	cands []*Subscription
}

// routeCache maps a concrete subject to its routes. Guarded by bus.mu.
// Anything that changes which subscriptions a subject reaches (the
// sublist's inserts and removals, which also carry group joins and
// leaves) empties it: see Bus.attach and Bus.endLocked.
type routeCache struct {
	m map[string]*subjectRoutes
	// The last subject looked up and its routes: a publisher mostly
	// publishes on one subject after another, found without hashing it.
	lastSubject string
	last        *subjectRoutes
}

func (c *routeCache) invalidate() {
	clear(c.m)
	c.lastSubject, c.last = "", nil
}

// routesFor returns subject's routes, from the cache or the sublist.
func (b *Bus) routesFor(subject string, tokens []string) *subjectRoutes {
	if r := b.routes.last; r != nil && b.routes.lastSubject == subject {
		return r
	}
	if r := b.routes.m[subject]; r != nil {
		b.routes.lastSubject, b.routes.last = subject, r
		return r
	}
	matched := b.subs.match(tokens, b.scratch[:0])
	slices.SortFunc(matched, byID)
	r := &subjectRoutes{all: slices.Clone(matched)}
	for _, s := range r.all {
		r.typed = r.typed || s.typ != 0
		if s.group == nil {
			r.fanout = append(r.fanout, s)
			continue
		}
		i := slices.IndexFunc(r.groups, func(gr groupRoute) bool { return gr.g == s.group })
		if i < 0 {
			i = len(r.groups)
			r.groups = append(r.groups, groupRoute{g: s.group})
		}
		r.groups[i].cands = append(r.groups[i].cands, s)
	}
	clear(matched)
	b.scratch = matched[:0]
	if b.routes.m == nil {
		b.routes.m = make(map[string]*subjectRoutes)
	} else if len(b.routes.m) >= routeCacheMax {
		clear(b.routes.m)
	}
	b.routes.m[subject] = r
	b.routes.lastSubject, b.routes.last = subject, r
	return r
}
