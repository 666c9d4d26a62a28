package bus

import "container/list"

// history keeps the last messages of each concrete subject for late
// subscribers: one fifo per subject holding a reference to each message,
// and the subjects in the order last published to, so that beyond
// Config.HistorySubjects the stalest subject is forgotten. Guarded by
// bus.mu.
type history struct {
	keep     int
	rules    []rule
	max      int
	subjects map[string]*list.Element // of *retained
	lru      list.List                // most recently published first
	msgs     int
}

type rule struct {
	tokens []string
	keep   int
}

type retained struct {
	subject string
	tokens  []string
	keep    int
	msgs    fifo
}

func newHistory(c Config) history {
	h := history{keep: c.History, max: c.HistorySubjects, subjects: make(map[string]*list.Element)}
	for _, r := range c.HistoryRules {
		tokens, _ := parse(r.Pattern, true) // validated by Config.normalize
		h.rules = append(h.rules, rule{tokens: tokens, keep: r.Keep})
	}
	return h
}

func (h *history) keepFor(subject []string) int {
	for _, r := range h.rules {
		if matchTokens(r.tokens, subject) {
			return r.keep
		}
	}
	return h.keep
}

// record retains e, evicting the subject's oldest message beyond its
// keep and the stalest subject beyond the bound.
func (h *history) record(p *publication, rel *releases) {
	if h.keep == 0 && len(h.rules) == 0 {
		return // no history kept: no lookup per publish
	}
	el := h.subjects[p.subject]
	if el == nil {
		keep := h.keepFor(p.tokens)
		if keep == 0 {
			return
		}
		el = h.lru.PushFront(&retained{subject: p.subject, tokens: p.tokens, keep: keep})
		h.subjects[p.subject] = el
	} else {
		h.lru.MoveToFront(el)
	}
	r := el.Value.(*retained)
	r.msgs.push(item{env: p.retained()})
	h.msgs++
	if r.msgs.n > r.keep {
		rel.add(r.msgs.pop().env)
		h.msgs--
	}
	if len(h.subjects) > h.max {
		h.forget(h.lru.Back(), rel)
	}
}

func (h *history) forget(el *list.Element, rel *releases) {
	r := h.lru.Remove(el).(*retained)
	delete(h.subjects, r.subject)
	for _, it := range r.msgs.drain() {
		rel.add(it.env)
		h.msgs--
	}
}

// collect returns, in publish order, the last n retained messages of each
// subject the pattern matches. The caller retains the ones it keeps.
func (h *history) collect(pattern []string, n int) []*envelope {
	var out []*envelope
	for _, el := range h.subjects {
		r := el.Value.(*retained)
		if !matchTokens(pattern, r.tokens) {
			continue
		}
		for i := max(0, r.msgs.n-n); i < r.msgs.n; i++ {
			out = append(out, r.msgs.buf[(r.msgs.head+i)%len(r.msgs.buf)].env)
		}
	}
	sortBySeq(out)
	return out
}

func (h *history) clear(rel *releases) {
	for h.lru.Len() > 0 {
		h.forget(h.lru.Back(), rel)
	}
}
