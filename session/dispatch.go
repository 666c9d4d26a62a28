package session

import (
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// dispatcher is the session's receiving side past the receiver: it checks
// every received frame, routes it to its channel (the session's map of
// channels, under Session.mu, is its routing table) or to the server, and
// keeps the link's receive-side flow-control accounting. One goroutine
// dispatches at a time (see receiver), so that accounting needs no lock.
type dispatcher struct {
	s *Session

	// The credit the peer still has on the link, and the bytes
	// dispatched since the last link grant. Credit given back from
	// elsewhere (for a waiting call or a queued notification, see
	// server.repay) arrives through regranted, which dispatch folds in
	// before it checks a frame: the peer can use that credit only after
	// the CREDIT frame that follows.
	linkRemaining int64
	linkConsumed  int64
	regranted     atomic.Int64
}

// recvFailed ends the session over a receive error or, fromDispatch, a
// frame that dispatch refused.
func (d *dispatcher) recvFailed(err error, fromDispatch bool) {
	if fromDispatch {
		d.dispatchFailed(err.(*plexus.Status))
		return
	}
	d.s.die(classifyRecv(err))
}

// dispatchFailed ends the session over a frame dispatch refused.
func (d *dispatcher) dispatchFailed(err *plexus.Status) {
	s := d.s
	if err.Code == plexus.ProtocolViolation {
		// Tell the peer why before closing; best effort, as the link is
		// being torn down anyway.
		var desc wire.Desc
		newDesc(&desc, wire.KindReset, 0, 0)
		desc.SetAux(uint64(plexus.ProtocolViolation))
		_ = s.t.Send(&desc, []byte(err.Message))
	}
	s.die(err)
}

func violation(format string, args ...any) *plexus.Status {
	return plexus.Errorf(plexus.ProtocolViolation, format, args...)
}

// kindRule is what dispatch knows of a frame kind before it looks at the
// frame: which channel IDs the kind may use (SPEC.md "Session frames":
// link frames channel 0, call frames a real channel, CREDIT and RESET
// either), whether its cost is charged to the link's window, and the
// handler of a kind that is not queued on a channel (nil: DATA and
// STATUS, which go to their channel's state machine).
type kindRule struct {
	chans   uint8 // onLink and/or onChannel
	charge  bool  // the frame's cost comes from the peer's link credit
	consume bool  // and counts towards the next link grant at dispatch
	handle  func(*dispatcher, *transport.Frame) *plexus.Status
}

const (
	onLink    = 1 << iota // channel 0
	onChannel             // any other channel
)

// chanClass is the class of channel id, for kindRule.chans.
func chanClass(id uint64) uint8 {
	if id == 0 {
		return onLink
	}
	return onChannel
}

// kindRules is indexed by the frame's kind byte; an undefined kind has
// no channel it may use, so admission refuses it.
var kindRules [256]kindRule

func init() {
	chans := map[wire.Kind]uint8{
		wire.KindOpen: onChannel, wire.KindData: onChannel, wire.KindStatus: onChannel,
		wire.KindNotify: onLink, wire.KindPing: onLink, wire.KindPong: onLink, wire.KindGoAway: onLink,
		wire.KindCredit: onLink | onChannel, wire.KindReset: onLink | onChannel,
	}
	handlers := map[wire.Kind]func(*dispatcher, *transport.Frame) *plexus.Status{
		wire.KindOpen:   (*dispatcher).onOpen,
		wire.KindNotify: (*dispatcher).onNotify,
		wire.KindCredit: (*dispatcher).onCredit,
		wire.KindReset:  (*dispatcher).onResetFrame,
		wire.KindPing:   (*dispatcher).onLinkFrame,
		wire.KindPong:   (*dispatcher).onLinkFrame,
		wire.KindGoAway: (*dispatcher).onLinkFrame,
	}
	for k, c := range chans {
		charge := k.CarriesMessage()
		kindRules[k] = kindRule{
			chans:   c,
			charge:  charge,
			consume: charge && handlers[k] == nil, // DATA and STATUS
			handle:  handlers[k],
		}
	}
}

// dispatch handles one received frame. It returns a status only when the
// link must end: a protocol violation, or the peer resetting the whole
// link. It never blocks on application code. It takes ownership of f's
// payload: the frame is either queued on a channel or released before
// dispatch returns.
//
// Every frame is admitted first: its kind is defined and may use its
// channel, PACKED is only on a DATA frame with a message and without
// metadata, and a message-bearing frame's cost comes from the peer's link
// credit, which must be positive when it arrives.
func (d *dispatcher) dispatch(f *transport.Frame) *plexus.Status {
	s := d.s
	if s.pool.retiredN.Load() > 0 {
		s.pool.reclaim()
	}
	desc := &f.Desc
	kind, id := desc.Kind(), desc.Channel()
	rule := &kindRules[kind]
	if rule.chans&chanClass(id) == 0 || badPacked(kind, desc.Flags()) {
		return d.refuse(f)
	}
	if rule.charge {
		// A call's or notification's cost is given back by onOpen or
		// onNotify, which know whether it must wait for a handler; any
		// other frame's counts towards the next grant at once. Credit
		// given back from elsewhere (see regranted) is folded in first.
		if d.regranted.Load() != 0 {
			d.linkRemaining += d.regranted.Swap(0)
		}
		if d.linkRemaining <= 0 {
			s.t.Release(f)
			return violation("link flow-control window exceeded")
		}
		cost := wire.FrameCost(len(f.Payload))
		d.linkRemaining -= cost
		if rule.consume {
			d.consumeLink(cost)
		}
	}
	if rule.handle != nil {
		return rule.handle(d, f)
	}
	// DATA and STATUS, for their channel.
	s.mu.Lock()
	ch := s.chans.get(id)
	if ch == nil || (kind == wire.KindStatus && !ch.local) {
		s.mu.Unlock()
		return d.unrouted(f, ch)
	}
	if kind == wire.KindStatus {
		// The peer is done with the channel: late frames are ignored
		// (see unknownChannel). It leaves the table before its final
		// status is published, so that once the caller sees that
		// status the receiving side no longer needs the channel (see
		// recycle); and here, under the lookup's lock, at no cost.
		d.removeLocked(ch)
	}
	s.mu.Unlock()
	return ch.onFrame(f)
}

// badPacked reports a PACKED flag where it may not be: only a DATA frame
// whose payload is a message, without metadata, is packed.
func badPacked(kind wire.Kind, flags uint8) bool {
	return flags&wire.FlagPacked != 0 && (kind != wire.KindData || flags&(wire.FlagMsg|wire.FlagMD) != wire.FlagMsg)
}

// refuse releases a frame that admission refused and says why.
func (d *dispatcher) refuse(f *transport.Frame) *plexus.Status {
	kind, flags, id := f.Desc.Kind(), f.Desc.Flags(), f.Desc.Channel()
	d.s.t.Release(f)
	switch {
	case !kind.Valid():
		return violation("frame kind %d flags %#x", kind, flags)
	case badPacked(kind, flags):
		return violation("PACKED on a frame of kind %d with flags %#x", kind, flags)
	}
	return violation("frame kind %d on channel %d", kind, id)
}

// unrouted releases a DATA or STATUS frame that found no channel to go
// to (ch nil: see unknownChannel), or a STATUS on a channel the peer
// opened (ch): only the serving side ends a call with a status.
func (d *dispatcher) unrouted(f *transport.Frame, ch *channel) *plexus.Status {
	id := f.Desc.Channel()
	d.s.t.Release(f)
	if ch != nil {
		return violation("STATUS on channel %d that the peer opened", id)
	}
	return d.unknownChannel(id)
}

// onOpen and onNotify hand a call or a notification to the serving side.
func (d *dispatcher) onOpen(f *transport.Frame) *plexus.Status {
	return d.s.srv.onOpen(f, wire.FrameCost(len(f.Payload)))
}

func (d *dispatcher) onNotify(f *transport.Frame) *plexus.Status {
	return d.s.srv.onNotify(f, wire.FrameCost(len(f.Payload)))
}

// onLinkFrame handles PING, PONG and GOAWAY (channel 0).
func (d *dispatcher) onLinkFrame(f *transport.Frame) *plexus.Status {
	desc := &f.Desc
	switch desc.Kind() {
	case wire.KindPing:
		d.s.ctl.push(ctlFrame{kind: wire.KindPong, aux: desc.Aux()})
	case wire.KindGoAway:
		d.onGoAway(desc.Aux(), string(f.Payload))
	}
	d.s.t.Release(f)
	return nil
}

// onCredit adds a CREDIT's grant to the link's or a channel's window.
func (d *dispatcher) onCredit(f *transport.Frame) *plexus.Status {
	id, n := f.Desc.Channel(), int64(f.Desc.Credit())
	d.s.t.Release(f)
	if id == 0 {
		d.s.link.add(n)
		return nil
	}
	ch, err := d.lookup(id)
	if ch != nil {
		ch.send.add(n)
	}
	return err
}

// onResetFrame ends a channel the peer reset, or the link (channel 0).
func (d *dispatcher) onResetFrame(f *transport.Frame) *plexus.Status {
	desc := &f.Desc
	id, code, reason := desc.Channel(), plexus.Code(desc.Aux()), string(f.Payload)
	d.s.t.Release(f)
	if id == 0 {
		return plexus.Errorf(plexus.PeerDied, "peer reset the link: %s: %s", code, reason)
	}
	ch, err := d.lookup(id)
	if ch != nil {
		ch.onReset(plexus.Errorf(code, "%s", reason))
	}
	return err
}

// consumeLink counts a dispatched frame's cost towards the next link
// grant, which goes out once half the window has been dispatched
// (dispatching goroutine).
func (d *dispatcher) consumeLink(cost int64) {
	d.linkConsumed += cost
	if d.linkConsumed >= int64(d.s.cfg.LinkWindow)/2 {
		d.grantLink()
	}
}

// grantLink sends the link credit consumeLink counted. It is kept out of
// line so that consumeLink, on every frame's path, inlines.
//
//go:noinline
func (d *dispatcher) grantLink() {
	d.linkRemaining += d.linkConsumed
	d.s.ctl.grantLink(d.linkConsumed)
	d.linkConsumed = 0
}

// lookup finds an open channel, or says what a frame for a channel that
// is not open means (see unknownChannel).
func (d *dispatcher) lookup(id uint64) (*channel, *plexus.Status) {
	s := d.s
	s.mu.Lock()
	ch := s.chans.get(id)
	s.mu.Unlock()
	if ch != nil {
		return ch, nil
	}
	return nil, d.unknownChannel(id)
}

// unknownChannel is the verdict on a frame for a channel that is not
// open. A channel that existed and has finished is ignored (nil): the
// frame may have crossed our RESET. A channel that never existed is a
// violation.
func (d *dispatcher) unknownChannel(id uint64) *plexus.Status {
	s := d.s
	s.mu.Lock()
	next, peerMax := s.nextID, s.peerMaxID
	s.mu.Unlock()
	if s.cfg.Role.owns(id) {
		if id >= next {
			return violation("frame for channel %d that this side never opened", id)
		}
	} else if id > peerMax {
		return violation("frame for channel %d before its OPEN", id)
	}
	return nil
}

// removeChannel takes ch out of the routing table: frames for it are
// ignored from then on (see lookup). The last channel out ends a Drain's
// wait.
func (d *dispatcher) removeChannel(ch *channel) {
	s := d.s
	s.mu.Lock()
	if s.chans.get(ch.id) == ch {
		d.removeLocked(ch)
	}
	s.mu.Unlock()
}

// removeLocked is removeChannel for ch, which is in the table, with
// Session.mu held.
func (d *dispatcher) removeLocked(ch *channel) {
	s := d.s
	s.chans.del(ch.id)
	if s.draining && s.chans.len() == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}
