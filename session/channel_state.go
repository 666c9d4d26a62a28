package session

// A channel's state, and the one transition function that every frame it
// receives and every local action on it goes through (SPEC.md "Channel
// states" gives the rules; channel_state.dot draws the machine, and
// TestChannelStateDiagram keeps the two in step).
//
// The state is a set of facts rather than one enum value, because the
// specification's states are not exclusive in the code: an opener may have
// sent END and received it too, and a closed channel still has to remember
// whether this side sent END (Send's error) or the peer did (no more
// credit is granted). The facts:
//
//	stSentEnd    this side sent END: OPEN or DATA with END (opener only)
//	stStatusSent this side's STATUS is being sent (acceptor only); the
//	             handler's goroutine drops the channel right after
//	stRecvEnd    nothing more is accepted from the peer: it sent END or
//	             STATUS, or the call failed (set with stFinal, always)
//	stFinal      the call's final status is known (channel.final): STATUS
//	             or RESET received, RESET sent, the link died, or a packed
//	             record the peer rewrote
//	stFinished   this side is done with the channel and dropped its queue:
//	             frames that still reach it are ignored
//
// and the specification's states are read from them: closed is stFinal or
// stFinished; otherwise stStatusSent is closing (closed for sending, and
// for receiving once the channel is finished, see below); otherwise
// half-closed (sent END) is stSentEnd and half-closed (peer sent END)
// stRecvEnd, and both may hold; otherwise the channel is open. Facts are
// only ever added, so closed is terminal; a recycled channel starts a new
// call from open (reset).
//
// Frames for a closed channel are ignored in two places. When STATUS or
// RESET arrives, the session removes the channel from its map before the
// transition, so later frames do not reach it (lookup ignores them); when
// this side closes it (abandon, finishServer), stFinished ignores the
// frames a dispatch looked up just before the removal. A frame that does
// reach a channel whose final status is known but that is not finished
// can only come from a dispatch under way when the link died; it is a
// violation, like one after the peer's END, which also keeps onOpen from
// starting a handler for an OPEN that raced the link's death. On the
// acceptor, stStatusSent is not yet closed for receiving: until the drop
// a moment later, frames are handled as in half-closed, their messages
// queued and released unread, and one after the peer's END is still
// "frame after its end".
//
// The diagram draws every state each side's events reach from open, a few
// of which the session never produces: an opener finishes a channel only
// after its RESET or a bad record, so never without a final status.
//
// Send and the packed-frame cursor read the state without ch.mu, once per
// message, which is why it lives in an atomic; it is written only under
// ch.mu (or before the channel is published, see open), with what
// transition returned.

// chanState is a set of the facts above.
type chanState uint32

const (
	stSentEnd chanState = 1 << iota
	stStatusSent
	stRecvEnd
	stFinal
	stFinished

	// stClosed: the call is over for this side.
	stClosed = stFinal | stFinished
)

// chanEvent is something that happens to a channel: a frame received, a
// frame this side sends, or a step of its local life.
type chanEvent uint8

const (
	evSendEnd    chanEvent = iota // OPEN or DATA with END (open, CloseSend)
	evSendStatus                  // the handler's STATUS (finishServer)
	evSendReset                   // the caller gives up (abandon)
	evRecvData                    // OPEN or DATA without END
	evRecvEnd                     // OPEN or DATA with END
	evRecvStatus                  // STATUS
	evRecvReset                   // RESET, or a GOAWAY that refuses the call
	evLinkDied                    // the session ended (die)
	evBadRecord                   // a packed record changed after it was validated
	evFinish                      // this side drops the channel (drop)
	numChanEvents
)

// verdict says what to do with an event.
type verdict uint8

const (
	// vAllow: the event takes effect (the frame is queued, or sent).
	vAllow verdict = iota
	// vIgnore: a frame that crossed this side's end, or a send with
	// nothing left to say; the state stays as it was.
	vIgnore
	// vViolation: the peer sent a frame after its end; the link ends.
	vViolation
)

// chanRule is how one event moves every state: ignored if the state has
// any of ignore, else a violation if it has any of violate, else the facts
// of set are added.
type chanRule struct {
	ignore, violate, set chanState
}

// chanRules is the machine (channel_state.dot draws it). A send is
// ignored once it has nothing to say: this side's END or STATUS is out, or
// the call is over. A received frame is ignored once this side dropped the
// channel and is a violation once the peer's side is over. A failure
// keeps the first final status (fail), except a rewritten packed record,
// which overrides it: the messages before it are not trusted either.
var chanRules = [numChanEvents]chanRule{
	evSendEnd:    {ignore: stSentEnd | stStatusSent | stClosed, set: stSentEnd},
	evSendStatus: {ignore: stStatusSent | stClosed, set: stStatusSent},
	evSendReset:  {ignore: stStatusSent | stClosed, set: stRecvEnd | stFinal},
	evRecvData:   {ignore: stFinished, violate: stRecvEnd},
	evRecvEnd:    {ignore: stFinished, violate: stRecvEnd, set: stRecvEnd},
	evRecvStatus: {ignore: stFinished, violate: stRecvEnd, set: stRecvEnd | stFinal},
	evRecvReset:  {ignore: stFinal, set: stRecvEnd | stFinal},
	evLinkDied:   {ignore: stFinal, set: stRecvEnd | stFinal},
	evBadRecord:  {set: stRecvEnd | stFinal},
	evFinish:     {ignore: stFinished, set: stFinished},
}

// transition is the state after e, and what to do with e.
func transition(s chanState, e chanEvent) (chanState, verdict) {
	r := &chanRules[e]
	if s&r.ignore != 0 {
		return s, vIgnore
	}
	if s&r.violate != 0 {
		return s, vViolation
	}
	return s | r.set, vAllow
}

// state is ch's state. Without ch.mu it may be stale by the time it is
// used; with it, it is current.
func (ch *channel) state() chanState { return chanState(ch.st.Load()) }

// step applies e to ch's state; the caller holds ch.mu, or nothing else
// can see ch yet (open, before the channel is in the session's map).
func (ch *channel) step(e chanEvent) verdict {
	cur := ch.state()
	next, v := transition(cur, e)
	ch.enter(cur, next)
	return v
}

// enter stores the state transition returned; the caller holds ch.mu.
// Most frames leave the state as it was, and skip the store.
func (ch *channel) enter(cur, next chanState) {
	if next != cur {
		ch.st.Store(uint32(next))
	}
}
