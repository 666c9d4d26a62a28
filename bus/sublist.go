package bus

// sublist finds the values (subscriptions) whose patterns match a
// subject without scanning them all: a trie with one level per token, as
// NATS's sublist. Matching a subject of n tokens visits at most the
// literal, '*' and '>' branches of each level it reaches, and each
// pattern's node at most once, so a value is never returned twice.
//
// It is not safe for concurrent use; the Bus guards it with its mutex.
type sublist[V comparable] struct {
	root  level[V]
	count int
}

type level[V comparable] struct {
	lits map[string]*node[V]
	star *node[V] // "*"
	rest *node[V] // ">"
}

type node[V comparable] struct {
	next level[V]
	vals map[V]struct{}
}

// insert adds v under the (valid) pattern's tokens.
func (l *sublist[V]) insert(tokens []string, v V) {
	lv := &l.root
	var n *node[V]
	for _, t := range tokens {
		n = lv.child(t, true)
		lv = &n.next
	}
	if n.vals == nil {
		n.vals = make(map[V]struct{})
	}
	if _, ok := n.vals[v]; !ok {
		n.vals[v] = struct{}{}
		l.count++
	}
}

// remove deletes v from under the pattern's tokens and prunes the nodes
// left empty, so that the trie's size follows the live subscriptions.
func (l *sublist[V]) remove(tokens []string, v V) bool {
	ok := l.root.remove(tokens, v)
	if ok {
		l.count--
	}
	return ok
}

// match appends to out every value whose pattern matches the concrete
// subject's tokens.
func (l *sublist[V]) match(tokens []string, out []V) []V {
	if len(tokens) == 0 {
		return out
	}
	return l.root.match(tokens, out)
}

func (lv *level[V]) child(t string, create bool) *node[V] {
	switch t {
	case AnyToken:
		if lv.star == nil && create {
			lv.star = &node[V]{}
		}
		return lv.star
	case AnyRest:
		if lv.rest == nil && create {
			lv.rest = &node[V]{}
		}
		return lv.rest
	}
	n := lv.lits[t]
	if n == nil && create {
		if lv.lits == nil {
			lv.lits = make(map[string]*node[V])
		}
		n = &node[V]{}
		lv.lits[t] = n
	}
	return n
}

func (lv *level[V]) drop(t string) {
	switch t {
	case AnyToken:
		lv.star = nil
	case AnyRest:
		lv.rest = nil
	default:
		delete(lv.lits, t)
	}
}

func (lv *level[V]) remove(tokens []string, v V) bool {
	n := lv.child(tokens[0], false)
	if n == nil {
		return false
	}
	var ok bool
	if len(tokens) == 1 {
		_, ok = n.vals[v]
		delete(n.vals, v)
	} else {
		ok = n.next.remove(tokens[1:], v)
	}
	if ok && n.empty() {
		lv.drop(tokens[0])
	}
	return ok
}

// match is called with at least one token left.
func (lv *level[V]) match(tokens []string, out []V) []V {
	if lv.rest != nil {
		out = appendVals(out, lv.rest.vals)
	}
	for _, n := range [2]*node[V]{lv.lits[tokens[0]], lv.star} {
		switch {
		case n == nil:
		case len(tokens) == 1:
			out = appendVals(out, n.vals)
		default:
			out = n.next.match(tokens[1:], out)
		}
	}
	return out
}

func (n *node[V]) empty() bool { return len(n.vals) == 0 && n.next.empty() }

func (lv *level[V]) empty() bool { return len(lv.lits) == 0 && lv.star == nil && lv.rest == nil }

func appendVals[V comparable](out []V, vals map[V]struct{}) []V {
	for v := range vals {
		out = append(out, v)
	}
	return out
}
