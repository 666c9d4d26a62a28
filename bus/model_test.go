package bus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestModel runs seeded random sequences of operations against a
// reference model and checks, after every operation, each publish's
// result, each fan-out delivery, that queue messages reach one live
// member at a time, and exactly which payloads have been released.
func TestModel(t *testing.T) {
	sequences := 1500
	if raceEnabled {
		sequences = 1000
	}
	for seed := 0; seed < sequences; seed++ {
		m := newModel(t, uint64(seed))
		for op := 0; op < 80; op++ {
			m.step()
			m.checkReleased()
		}
		m.finish()
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

var (
	modelPatterns = []string{"a.b", "a.*", "a.>", "*.b", ">", "c", "a.b.c", "*.*", "a.*.c"}
	modelSubjects = []string{"a.b", "a.c", "a.b.c", "c", "b.b", "a.x.c"}
	modelQueues   = []string{"q1", "q2"}
)

type modelSub struct {
	s       *Subscription
	pattern string
	queue   string
	limit   int
	policy  Overflow
	buf     []int // fan-out: the IDs buffered
	taken   []*Delivery
	stale   map[*Delivery]bool // queue: taken before the member ended
	endCode plexus.Code        // OK while live
}

type model struct {
	t        *testing.T
	rng      *rand.Rand
	b        *Bus
	tr       *tracker
	keep     int // history per subject
	subs     []*modelSub
	subjects []string // by message ID
	fanRefs  []int    // by ID: fan-out buffers and taken deliveries
	hist     map[string][]int
	live     map[string]map[int]*modelSub // queue → ID → the member that took it, nil while buffered
	orphaned uint64
}

func newModel(t *testing.T, seed uint64) *model {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	m := &model{t: t, rng: rng, tr: newTracker(100), keep: rng.IntN(3),
		hist: map[string][]int{}, live: map[string]map[int]*modelSub{}}
	b, err := New(Config{History: m.keep, QueuePolicy: QueuePolicy(1 + rng.IntN(2))})
	require.NoError(t, err)
	m.b = b
	for _, q := range modelQueues {
		m.live[q] = map[int]*modelSub{}
	}
	return m
}

func (m *model) step() {
	switch r := m.rng.IntN(100); {
	case r < 12:
		m.subscribeFanout()
	case r < 20:
		m.subscribeQueue()
	case r < 55:
		m.publish()
	case r < 75:
		m.next()
	case r < 90:
		m.done()
	default:
		m.end()
	}
}

func (m *model) subscribeFanout() {
	ms := &modelSub{pattern: modelPatterns[m.rng.IntN(len(modelPatterns))], limit: 1 + m.rng.IntN(4),
		policy: []Overflow{DropOldest, DropNewest, End}[m.rng.IntN(3)]}
	history := []int{0, 1, AllHistory}[m.rng.IntN(3)]
	s, err := m.b.Subscribe(m.t.Context(), ms.pattern, SubOptions{Buffer: ms.limit, Overflow: ms.policy, History: history})
	require.NoError(m.t, err)
	ms.s = s
	var replay []int
	for subj, ids := range m.hist {
		if Match(ms.pattern, subj) {
			replay = append(replay, ids[max(0, len(ids)-history):]...)
		}
	}
	slices.Sort(replay)
	ms.buf = replay[max(0, len(replay)-ms.limit):]
	for _, id := range ms.buf {
		m.fanRefs[id]++
	}
	m.subs = append(m.subs, ms)
}

func (m *model) subscribeQueue() {
	ms := &modelSub{pattern: modelPatterns[m.rng.IntN(len(modelPatterns))], queue: modelQueues[m.rng.IntN(2)],
		limit: 1000, policy: DropNewest, stale: map[*Delivery]bool{}}
	s, err := m.b.Subscribe(m.t.Context(), ms.pattern, SubOptions{Queue: ms.queue, Buffer: ms.limit, Overflow: ms.policy})
	require.NoError(m.t, err)
	ms.s = s
	m.subs = append(m.subs, ms)
}

func (m *model) publish() {
	id := len(m.subjects)
	if id == len(m.tr.counts) {
		return
	}
	subj := modelSubjects[m.rng.IntN(len(modelSubjects))]
	m.subjects = append(m.subjects, subj)
	m.fanRefs = append(m.fanRefs, 0)
	var want PublishResult
	for _, ms := range m.subs {
		if ms.queue == "" && ms.endCode == plexus.OK && Match(ms.pattern, subj) {
			m.offer(ms, id, &want)
		}
	}
	for _, q := range modelQueues {
		if m.anyMember(q, subj) {
			m.live[q][id] = nil
			want.Delivered++
		}
	}
	if m.keep > 0 {
		ids := append(m.hist[subj], id)
		m.hist[subj] = ids[max(0, len(ids)-m.keep):]
	}
	res, err := m.b.Publish(m.t.Context(), m.tr.msg(subj, id))
	require.NoError(m.t, err)
	require.Equal(m.t, want, res, "publish %d to %q", id, subj)
}

func (m *model) offer(ms *modelSub, id int, want *PublishResult) {
	switch {
	case len(ms.buf) < ms.limit:
	case ms.policy == DropOldest:
		m.fanRefs[ms.buf[0]]--
		ms.buf = ms.buf[1:]
	case ms.policy == End:
		want.Dropped++
		m.dropFanout(ms, plexus.ResourceExhausted)
		return
	default:
		want.Dropped++
		return
	}
	want.Delivered++
	ms.buf = append(ms.buf, id)
	m.fanRefs[id]++
}

func (m *model) anyMember(q, subj string) bool {
	for _, ms := range m.subs {
		if ms.queue == q && ms.endCode == plexus.OK && Match(ms.pattern, subj) {
			return true
		}
	}
	return false
}

func (m *model) pick() *modelSub {
	if len(m.subs) == 0 {
		return nil
	}
	return m.subs[m.rng.IntN(len(m.subs))]
}

// next takes with TryNext, or sometimes with TakeBatch (0 to 3 at once,
// into a fresh slice: the model keeps pointers into it until Done).
func (m *model) next() {
	ms := m.pick()
	if ms == nil {
		return
	}
	if m.rng.IntN(3) == 0 {
		m.takeBatch(ms)
		return
	}
	d, err := ms.s.TryNext()
	if ms.endCode != plexus.OK {
		require.Nil(m.t, d)
		require.Equal(m.t, ms.endCode, plexus.CodeOf(err))
		return
	}
	require.NoError(m.t, err)
	if (ms.queue == "" && len(ms.buf) == 0) || (ms.queue != "" && d == nil) {
		require.Nil(m.t, d)
		return
	}
	require.NotNil(m.t, d)
	m.took(ms, d)
}

func (m *model) takeBatch(ms *modelSub) {
	ds := make([]Delivery, m.rng.IntN(4))
	n, err := ms.s.TakeBatch(ds)
	if ms.endCode != plexus.OK {
		require.Zero(m.t, n)
		require.Equal(m.t, ms.endCode, plexus.CodeOf(err))
		return
	}
	require.NoError(m.t, err)
	if ms.queue == "" {
		require.Equal(m.t, min(len(ds), len(ms.buf)), n)
	}
	require.LessOrEqual(m.t, n, len(ds))
	for i := range n {
		m.took(ms, &ds[i])
	}
}

// took checks a delivery the subscription gave and records it taken.
func (m *model) took(ms *modelSub, d *Delivery) {
	if ms.queue == "" {
		require.Equal(m.t, ms.buf[0], idOf(d))
		ms.buf = ms.buf[1:]
		ms.taken = append(ms.taken, d)
		return
	}
	id := idOf(d)
	holder, ok := m.live[ms.queue][id]
	require.True(m.t, ok, "message %d is not live in %s", id, ms.queue)
	require.Nil(m.t, holder, "message %d already in flight at a live member", id)
	require.True(m.t, Match(ms.pattern, m.subjects[id]))
	m.live[ms.queue][id] = ms
	ms.taken = append(ms.taken, d)
}

func (m *model) done() {
	ms := m.pick()
	if ms == nil || len(ms.taken) == 0 {
		return
	}
	i := m.rng.IntN(len(ms.taken))
	d := ms.taken[i]
	ms.taken = slices.Delete(ms.taken, i, i+1)
	err := d.Done()
	switch {
	case ms.queue == "":
		require.NoError(m.t, err)
		m.fanRefs[idOf(d)]--
	case ms.stale[d]:
		require.ErrorIs(m.t, err, errFailedPrecondition)
	default:
		require.NoError(m.t, err)
		delete(m.live[ms.queue], idOf(d))
	}
	require.Error(m.t, d.Done(), "Done at most once")
}

func (m *model) end() {
	ms := m.pick()
	if ms == nil || ms.endCode != plexus.OK {
		return
	}
	code := plexus.Canceled
	if m.rng.IntN(2) == 0 {
		ms.s.Unsubscribe()
	} else {
		code = plexus.PeerDied
		ms.s.Kill(plexus.Errorf(code, "died"))
	}
	if ms.queue == "" {
		m.dropFanout(ms, code)
		return
	}
	ms.endCode = code
	for _, d := range ms.taken {
		ms.stale[d] = true
		m.live[ms.queue][idOf(d)] = nil
	}
	// What the member held goes to members that match it; what none
	// matches was necessarily the member's, and is orphaned.
	for id := range m.live[ms.queue] {
		if !m.anyMember(ms.queue, m.subjects[id]) {
			delete(m.live[ms.queue], id)
			m.orphaned++
		}
	}
}

func (m *model) dropFanout(ms *modelSub, code plexus.Code) {
	for _, id := range ms.buf {
		m.fanRefs[id]--
	}
	ms.buf = nil
	ms.endCode = code
}

// checkReleased compares every payload's release count with the model's.
func (m *model) checkReleased() {
	inHistory := map[int]bool{}
	for _, ids := range m.hist {
		for _, id := range ids {
			inHistory[id] = true
		}
	}
	for id := range m.subjects {
		held := m.fanRefs[id] > 0 || inHistory[id]
		for _, q := range modelQueues {
			_, ok := m.live[q][id]
			held = held || ok
		}
		want := 1
		if held {
			want = 0
		}
		require.Equal(m.t, want, m.tr.released(id), "message %d (%q)", id, m.subjects[id])
	}
}

// finish acknowledges what members hold, drains them (every live queue
// message must come out exactly once), closes the bus and checks that
// every payload was released exactly once.
func (m *model) finish() {
	for _, ms := range m.subs {
		if ms.queue != "" {
			for len(ms.taken) > 0 {
				m.doneFirst(ms)
			}
		}
	}
	for _, ms := range m.subs {
		if ms.queue == "" || ms.endCode != plexus.OK {
			continue
		}
		for {
			d, err := ms.s.TryNext()
			require.NoError(m.t, err)
			if d == nil {
				break
			}
			_, ok := m.live[ms.queue][idOf(d)]
			require.True(m.t, ok, "message %d twice", idOf(d))
			require.NoError(m.t, d.Done())
			delete(m.live[ms.queue], idOf(d))
		}
	}
	for _, q := range modelQueues {
		require.Empty(m.t, m.live[q], "queue %s lost messages", q)
	}
	require.Equal(m.t, m.orphaned, m.b.Stats().Orphaned)
	m.b.Close()
	for _, ms := range m.subs {
		for _, d := range ms.taken {
			_ = d.Done()
		}
	}
	m.tr.requireReleased(m.t, len(m.subjects))
}

func (m *model) doneFirst(ms *modelSub) {
	d := ms.taken[0]
	ms.taken = ms.taken[1:]
	if err := d.Done(); err == nil {
		require.False(m.t, ms.stale[d])
		delete(m.live[ms.queue], idOf(d))
	} else {
		require.True(m.t, ms.stale[d], fmt.Sprint(err))
	}
}
