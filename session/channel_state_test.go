package session

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateStateDiagram = flag.Bool("update-state-diagram", false, "rewrite channel_state.dot from the transition function")

const stateDiagramFile = "channel_state.dot"

var chanEventNames = [numChanEvents]string{
	evSendEnd:    "sendEnd",
	evSendStatus: "sendStatus",
	evSendReset:  "sendReset",
	evRecvData:   "recvData",
	evRecvEnd:    "recvEnd",
	evRecvStatus: "recvStatus",
	evRecvReset:  "recvReset",
	evLinkDied:   "linkDied",
	evBadRecord:  "badRecord",
	evFinish:     "finish",
}

func (e chanEvent) String() string { return chanEventNames[e] }

var chanFactNames = []struct {
	f    chanState
	name string
}{
	{stSentEnd, "sentEnd"},
	{stStatusSent, "statusSent"},
	{stRecvEnd, "recvEnd"},
	{stFinal, "final"},
	{stFinished, "finished"},
}

func (s chanState) String() string {
	var facts []string
	for _, f := range chanFactNames {
		if s&f.f != 0 {
			facts = append(facts, f.name)
		}
	}
	if len(facts) == 0 {
		return "open"
	}
	return strings.Join(facts, "+")
}

// phase names the specification's state that s is (channel_state.go).
func (s chanState) phase() string {
	switch {
	case s&stClosed != 0:
		return "closed"
	case s&stStatusSent != 0:
		return "closing (STATUS sent)"
	case s&stSentEnd != 0 && s&stRecvEnd != 0:
		return "half-closed (both ENDs)"
	case s&stSentEnd != 0:
		return "half-closed (sent END)"
	case s&stRecvEnd != 0:
		return "half-closed (peer sent END)"
	}
	return "open"
}

// chanSide is the events one side's channels go through: only the opener
// sends END or RESET and receives STATUS (the session rejects a STATUS on
// a channel the peer opened before the channel sees it), only the acceptor
// sends STATUS.
type chanSide struct {
	name   string
	events []chanEvent
}

var chanSides = []chanSide{
	{"opener", []chanEvent{evSendEnd, evSendReset, evRecvData, evRecvEnd, evRecvStatus, evRecvReset, evLinkDied, evBadRecord, evFinish}},
	{"acceptor", []chanEvent{evSendStatus, evRecvData, evRecvEnd, evRecvReset, evLinkDied, evBadRecord, evFinish}},
}

// chanEdge is one transition as the diagram draws it: to is a state's
// name, or "violation".
type chanEdge struct {
	side, from, to, event string
}

const violationNode = "violation"

// machineEdges is every state each side can reach from open and every
// event that is not ignored there, from the transition function.
func machineEdges() (states map[string][]chanState, edges []chanEdge) {
	states = map[string][]chanState{}
	for _, side := range chanSides {
		seen := map[chanState]bool{0: true}
		queue := []chanState{0}
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			states[side.name] = append(states[side.name], s)
			for _, e := range side.events {
				next, v := transition(s, e)
				switch v {
				case vIgnore:
					continue
				case vViolation:
					edges = append(edges, chanEdge{side.name, s.String(), violationNode, e.String()})
					continue
				}
				edges = append(edges, chanEdge{side.name, s.String(), next.String(), e.String()})
				if !seen[next] {
					seen[next] = true
					queue = append(queue, next)
				}
			}
		}
	}
	return states, edges
}

// stateDiagram is channel_state.dot as the transition function has it.
func stateDiagram() string {
	states, edges := machineEdges()
	var b strings.Builder
	b.WriteString(`// The state machine of a channel (channel_state.go), one cluster per side.
// A node is a set of facts ("open": none), labelled with the SPEC.md
// "Channel states" state it is; an edge is allowed for the events on it,
// and an event with no edge out of a state is ignored there. The
// violation node is "frame after its end". TestChannelStateDiagram checks
// this file against the transition function; regenerate it with
//   go test ./session/ -run TestChannelStateDiagram -update-state-diagram
digraph channel_state {
	rankdir=LR;
	node [shape=box, fontname="Helvetica"];
	edge [fontname="Helvetica", fontsize=10];
`)
	for _, side := range chanSides {
		fmt.Fprintf(&b, "\n\tsubgraph cluster_%s {\n\t\tlabel=%q;\n", side.name, side.name)
		for _, s := range states[side.name] {
			label := s.phase()
			if s != 0 {
				label += `\n` + s.String()
			}
			fmt.Fprintf(&b, "\t\t\"%s %s\" [label=\"%s\"];\n", side.name, s, label)
		}
		fmt.Fprintf(&b, "\t\t\"%s %s\" [label=\"PROTOCOL_VIOLATION\\nframe after its end\", shape=octagon];\n", side.name, violationNode)
		// One arrow per pair of states, with all its events.
		type pair struct{ from, to string }
		var order []pair
		events := map[pair][]string{}
		for _, e := range edges {
			if e.side != side.name {
				continue
			}
			p := pair{e.from, e.to}
			if events[p] == nil {
				order = append(order, p)
			}
			events[p] = append(events[p], e.event)
		}
		for _, p := range order {
			style := ""
			if p.to == violationNode {
				style = ", style=dashed"
			}
			fmt.Fprintf(&b, "\t\t\"%s %s\" -> \"%s %s\" [label=\"%s\"%s];\n", side.name, p.from, side.name, p.to, strings.Join(events[p], ", "), style)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

var (
	dotNode = regexp.MustCompile(`^\s*"([a-z]+) ([^"]+)"\s*\[`)
	dotEdge = regexp.MustCompile(`^\s*"([a-z]+) ([^"]+)"\s*->\s*"([a-z]+) ([^"]+)"\s*\[label="([^"]*)"`)
)

// parseStateDiagram reads the nodes and edges of a diagram written as
// stateDiagram writes it (one statement a line).
func parseStateDiagram(t *testing.T, text string) (nodes map[string][]string, edges []chanEdge) {
	nodes = map[string][]string{}
	for i, line := range strings.Split(text, "\n") {
		if m := dotEdge.FindStringSubmatch(line); m != nil {
			require.Equal(t, m[1], m[3], "line %d: an edge between sides", i+1)
			for _, ev := range strings.Split(m[5], ", ") {
				edges = append(edges, chanEdge{m[1], m[2], m[4], ev})
			}
			continue
		}
		if m := dotNode.FindStringSubmatch(line); m != nil && m[2] != violationNode {
			nodes[m[1]] = append(nodes[m[1]], m[2])
		}
	}
	return nodes, edges
}

// TestChannelStateDiagram checks that channel_state.dot draws every state
// and every transition of the transition function, and nothing else.
func TestChannelStateDiagram(t *testing.T) {
	if *updateStateDiagram {
		require.NoError(t, os.WriteFile(stateDiagramFile, []byte(stateDiagram()), 0o644))
	}
	text, err := os.ReadFile(stateDiagramFile)
	require.NoError(t, err)
	nodes, drawn := parseStateDiagram(t, string(text))
	states, edges := machineEdges()

	for _, side := range chanSides {
		var want []string
		for _, s := range states[side.name] {
			want = append(want, s.String())
		}
		require.ElementsMatch(t, want, nodes[side.name], "%s: the diagram's states are not those the %s reaches", stateDiagramFile, side.name)
	}
	key := func(e chanEdge) string { return fmt.Sprintf("%s: %s -%s-> %s", e.side, e.from, e.event, e.to) }
	drawnSet := map[string]bool{}
	for _, e := range drawn {
		require.False(t, drawnSet[key(e)], "%s draws %s twice", stateDiagramFile, key(e))
		drawnSet[key(e)] = true
	}
	for _, e := range edges {
		require.True(t, drawnSet[key(e)], "%s lacks %s", stateDiagramFile, key(e))
		delete(drawnSet, key(e))
	}
	require.Empty(t, drawnSet, "%s draws transitions the transition function does not make", stateDiagramFile)
}

// diagramStates is the states channel_state.dot draws for each side.
func diagramStates(t *testing.T) map[string]map[string]bool {
	text, err := os.ReadFile(stateDiagramFile)
	require.NoError(t, err)
	nodes, _ := parseStateDiagram(t, string(text))
	drawn := map[string]map[string]bool{}
	for side, names := range nodes {
		drawn[side] = map[string]bool{}
		for _, n := range names {
			drawn[side][n] = true
		}
	}
	return drawn
}

// oldFlags is the channel's state as the flags it had before the state
// machine kept it, each changed exactly where and how the code changed it:
// an independent model of what the transitions must preserve.
type oldFlags struct {
	sentEnd, recvEnd, ended, finished bool
}

// apply changes the flags for e as the code did; ok is what the code
// decided where it decided something (false: ignored or violation).
func (o *oldFlags) apply(e chanEvent) (ok, violation bool) {
	switch e {
	case evSendEnd: // open, CloseSend
		if o.sentEnd || o.ended {
			return false, false
		}
		o.sentEnd = true
	case evSendStatus: // finishServer: gone := final != nil
		return !o.ended, false
	case evSendReset: // abandon: peerDone := final != nil
		if o.ended {
			return false, false
		}
		o.ended, o.recvEnd = true, true
	case evRecvData, evRecvEnd, evRecvStatus: // onFrame
		if o.finished {
			return false, false
		}
		if o.recvEnd {
			return false, true
		}
		if e != evRecvData {
			o.recvEnd = true
		}
		o.ended = o.ended || e == evRecvStatus
	case evRecvReset, evLinkDied: // fail
		ok = !o.ended
		o.ended, o.recvEnd = true, true
		return ok, false
	case evBadRecord:
		o.ended, o.recvEnd = true, true
	case evFinish: // drop, abandon
		o.finished = true
	}
	return true, false
}

// chanRun drives one channel the way the session does, recording what the
// specification and the old flags say should happen.
type chanRun struct {
	t      *testing.T
	where  string
	opener bool
	st     chanState
	old    oldFlags
	drawn  map[string]bool // the diagram's states for this side

	mapped bool // in the session's map: frames reach the channel
	// stale: a dispatch looked the channel up just before it left the
	// map (this side removed it, or the link died meanwhile), and may
	// still hand it one frame.
	stale  bool
	dead   bool // the link is gone: nothing more is received
	queued bool // a message was queued (a packed record may go bad)
	// finish is how far the acceptor's handler has got: running, then
	// STATUS sent (finishServer), the channel removed, dropped.
	finish int

	peerEnded bool // the peer's END or STATUS was accepted
	sentEnds  int
	trace     []string
}

const (
	handlerRunning = iota
	handlerSentStatus
	handlerRemoved
	handlerDropped
)

func (r *chanRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s after %s: %s", r.where, strings.Join(r.trace, ", "), fmt.Sprintf(format, args...))
}

// step applies e to the machine and to the old flags, checks the
// invariants every transition keeps and returns the verdict.
func (r *chanRun) step(e chanEvent) verdict {
	r.t.Helper()
	before := r.st
	next, v := transition(before, e)
	r.trace = append(r.trace, e.String())
	r.st = next
	if !r.drawn[next.String()] {
		r.fail("state %s is not in %s", next, stateDiagramFile)
	}
	if before&stClosed != 0 && next&stClosed == 0 {
		r.fail("%s left closed (%s -> %s)", e, before, next)
	}
	if v != vAllow && next != before {
		r.fail("%s was not allowed but changed the state", e)
	}
	if v == vAllow {
		r.checkEnds(e, before)
	}
	r.checkOld(e, v)
	return v
}

// checkEnds: nothing is sent once this side's END or STATUS is out or the
// call is over, and END goes at most once in each direction.
func (r *chanRun) checkEnds(e chanEvent, before chanState) {
	r.t.Helper()
	switch e {
	case evSendEnd, evSendStatus, evSendReset:
		if before&(stClosed|stStatusSent) != 0 {
			r.fail("%s sent after the end (%s)", e, before)
		}
		if e != evSendReset {
			if r.sentEnds++; r.sentEnds > 1 {
				r.fail("this side ended twice")
			}
		}
	case evRecvEnd, evRecvStatus:
		if r.peerEnded {
			r.fail("the peer's END accepted twice")
		}
	}
}

// checkOld applies e to the old flags and compares what they decide and
// read with the machine's.
func (r *chanRun) checkOld(e chanEvent, v verdict) {
	r.t.Helper()
	ok, violation := r.old.apply(e)
	// drop does the same whether or not the channel was finished.
	if (v == vAllow) != ok && e != evFinish {
		r.fail("%s: verdict %d, the flags said ok=%v", e, v, ok)
	}
	if (v == vViolation) != violation {
		r.fail("%s: verdict %d, the flags said violation=%v", e, v, violation)
	}
	got := oldFlags{r.st&stSentEnd != 0, r.st&stRecvEnd != 0, r.st&stFinal != 0, r.st&stFinished != 0}
	if got != r.old {
		r.fail("state %s reads as %+v, the flags are %+v", r.st, got, r.old)
	}
}

// delivered reports whether a frame from the peer reaches the channel now
// (dispatch finds it), and whether through a stale look-up.
func (r *chanRun) delivered() (ok, stale bool) {
	switch {
	case r.mapped && !r.dead:
		return true, false
	case r.stale:
		r.stale = false
		return true, true
	}
	return false, false // lookup ignores it, or it is never received
}

// frame delivers a frame from the peer as dispatch does, and checks the
// verdict against the specification: a frame for a channel this side has
// closed is ignored, one after the peer's END is a violation.
func (r *chanRun) frame(e chanEvent) {
	r.t.Helper()
	ok, _ := r.delivered()
	if !ok {
		return
	}
	want := vAllow
	switch {
	case r.st&stFinished != 0:
		want = vIgnore // looked up just before this side dropped it
	case r.peerEnded:
		want = vViolation
	}
	if e == evRecvStatus {
		r.mapped = false // removed before the transition (onFrame)
	}
	dead := r.dead
	v := r.step(e)
	if !dead && v != want {
		// (A frame a dispatch hands over after the link died is past
		// what the specification describes; the flags still judge it.)
		r.fail("frame %s: verdict %d, the specification says %d", e, v, want)
	}
	switch {
	case v == vViolation:
		r.linkDied(true)
	case v == vAllow && e != evRecvData:
		r.peerEnded = true
		r.queued = true
	case v == vAllow:
		r.queued = true
	}
}

// reset delivers a RESET from the peer (onReset).
func (r *chanRun) reset() {
	if ok, _ := r.delivered(); ok {
		r.mapped = false // removed first
		r.step(evRecvReset)
	}
}

// linkDied ends the session (die), from the dispatching goroutine or
// another one, while a dispatch may be under way.
func (r *chanRun) linkDied(byDispatch bool) {
	if r.dead {
		return
	}
	r.dead = true
	if r.mapped {
		r.mapped = false // die takes the map
		r.stale = r.stale || !byDispatch
		r.step(evLinkDied)
	}
}

// removed: this side took the channel out of the session's map.
func (r *chanRun) removed() {
	if r.mapped {
		r.mapped, r.stale = false, true
	}
}

// send is Stream.Send's check: whether the message goes.
func (r *chanRun) send() {
	goes := r.st&(stSentEnd|stFinal) == 0
	if goes && r.st&(stClosed|stStatusSent) != 0 {
		r.fail("Send goes in state %s", r.st)
	}
}

// badRecord: the receiver found a packed record the peer rewrote. The
// caller may abandon the call meanwhile (its context watcher, say), after
// fromCursor looked.
func (r *chanRun) badRecord(abandoned bool) {
	if !r.queued || r.st&stFinished != 0 {
		return // no cursor, or fromCursor sees the channel finished
	}
	if abandoned {
		r.abandon()
	}
	r.linkDied(false) // dispatchFailed
	r.step(evBadRecord)
	r.step(evFinish)
}

// abandon: the caller gives up (abandon).
func (r *chanRun) abandon() {
	r.step(evSendReset)
	r.step(evFinish)
	r.removed()
}

// act does one random thing a channel of this side can see.
func (r *chanRun) act(rng *rand.Rand) {
	r.t.Helper()
	if r.opener {
		r.actOpener(rng)
	} else {
		r.actAcceptor(rng)
	}
}

func (r *chanRun) actOpener(rng *rand.Rand) {
	r.t.Helper()
	switch rng.IntN(9) {
	case 0:
		r.step(evSendEnd) // CloseSend
	case 1:
		r.send()
	case 2:
		r.abandon()
	case 3:
		r.frame(evRecvData)
	case 4:
		r.frame(evRecvEnd)
	case 5:
		r.frame(evRecvStatus)
	case 6:
		r.reset()
	case 7:
		r.linkDied(rng.IntN(2) == 0)
	case 8:
		r.badRecord(rng.IntN(4) == 0)
	}
}

func (r *chanRun) actAcceptor(rng *rand.Rand) {
	r.t.Helper()
	switch rng.IntN(9) {
	case 0, 1:
		r.frame(evRecvData)
	case 2:
		r.frame(evRecvEnd)
	case 3:
		r.reset()
	case 4:
		r.linkDied(rng.IntN(2) == 0)
	case 5:
		if r.finish == handlerRunning {
			r.send()
		}
	case 6:
		if r.finish == handlerRunning {
			r.badRecord(false) // the handler's Recv
		}
	case 7, 8:
		r.finishServer()
	}
}

// finishServer takes the handler's end a step further: its STATUS, the
// removal from the session's map, the drop; frames may come in between.
func (r *chanRun) finishServer() {
	r.t.Helper()
	switch r.finish {
	case handlerRunning:
		r.step(evSendStatus)
	case handlerSentStatus:
		r.removed()
	case handlerRemoved:
		r.step(evFinish)
	default:
		return
	}
	r.finish++
}

// TestChannelStateRandom drives channels through random sequences of what
// the session does to them (10,000, from fixed seeds) and checks the
// machine's invariants, the specification's verdicts and agreement with
// the flags the state replaced.
func TestChannelStateRandom(t *testing.T) {
	drawn := diagramStates(t)
	reached := map[string]bool{}
	for seed := range uint64(10000) {
		rng := rand.New(rand.NewPCG(seed, 0x636861))
		opener := seed%2 == 0
		side := chanSides[seed%2].name
		r := &chanRun{t: t, where: fmt.Sprintf("seed %d (%s)", seed, side), opener: opener, drawn: drawn[side], mapped: true}
		if opener {
			if rng.IntN(2) == 0 {
				r.step(evSendEnd) // the OPEN ends this side
			}
		} else {
			if rng.IntN(2) == 0 {
				r.frame(evRecvEnd) // the OPEN
			} else {
				r.frame(evRecvData)
			}
		}
		for range 1 + rng.IntN(16) {
			r.act(rng)
			reached[side+" "+r.st.String()] = true
		}
	}
	// The run is not blind: it reaches the states the session does.
	for _, s := range []string{
		"opener open", "opener sentEnd", "opener sentEnd+recvEnd+final", "opener sentEnd+recvEnd+final+finished",
		"opener recvEnd+final+finished", "acceptor recvEnd", "acceptor statusSent+recvEnd+finished",
		"acceptor statusSent+recvEnd+final", "acceptor recvEnd+final+finished",
	} {
		require.True(t, reached[s], "no sequence reached %s", s)
	}
}

// TestChannelStateMachine drives the bare machine through random events
// of each side, including orders the session never produces: closed stays
// closed, nothing is sent once this side ended or the call is over, END
// goes at most once in each direction, and every state is drawn.
func TestChannelStateMachine(t *testing.T) {
	drawn := diagramStates(t)
	states, _ := machineEdges()
	for seed := range uint64(10000) {
		rng := rand.New(rand.NewPCG(seed, 0x6d616368))
		side := chanSides[seed%2]
		s := chanState(0)
		sentEnds, recvEnds := 0, 0
		var trace []string
		for range 1 + rng.IntN(16) {
			e := side.events[rng.IntN(len(side.events))]
			next, v := transition(s, e)
			trace = append(trace, e.String())
			where := fmt.Sprintf("seed %d (%s) after %s", seed, side.name, strings.Join(trace, ", "))
			require.True(t, drawn[side.name][next.String()], "%s: state %s is not in %s", where, next, stateDiagramFile)
			require.False(t, s&stClosed != 0 && next&stClosed == 0, "%s: left closed", where)
			require.Equal(t, s, next&s, "%s: a fact was lost", where)
			if v != vAllow {
				require.Equal(t, s, next, "%s: not allowed, yet the state changed", where)
			}
			switch e {
			case evSendEnd, evSendStatus, evSendReset:
				require.False(t, v == vAllow && s&(stClosed|stStatusSent) != 0, "%s: sent after the end", where)
				if v == vAllow && e != evSendReset {
					sentEnds++
				}
			case evRecvData, evRecvEnd, evRecvStatus:
				// A frame is ignored once this side dropped the channel,
				// else a violation once the peer's side is over.
				want := vAllow
				if s&stFinished != 0 {
					want = vIgnore
				} else if s&(stRecvEnd|stFinal) != 0 {
					want = vViolation
				}
				require.Equal(t, want, v, where)
				if v == vAllow && e != evRecvData {
					recvEnds++
				}
			}
			require.LessOrEqual(t, sentEnds, 1, "%s: this side ended twice", where)
			require.LessOrEqual(t, recvEnds, 1, "%s: the peer's END accepted twice", where)
			s = next
		}
	}
	require.True(t, slices.Contains(states["opener"], stSentEnd|stRecvEnd), "the opener may have sent and received END at once")
}
