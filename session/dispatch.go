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
	// server.repay) arrives through regranted, which admitFrame folds in
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

// dispatch handles one received frame. It returns a status only when the
// link must end: a protocol violation, or the peer resetting the whole
// link. It never blocks on application code. It takes
// ownership of f's payload: the frame is either queued on a channel or
// released before dispatch returns.
func (d *dispatcher) dispatch(f *transport.Frame) *plexus.Status {
	s := d.s
	if s.pool.retiredN.Load() > 0 {
		s.pool.reclaim()
	}
	if st := d.admitFrame(f); st != nil {
		s.t.Release(f)
		return st
	}
	desc := &f.Desc
	switch desc.Kind() {
	case wire.KindOpen:
		return s.srv.onOpen(f, wire.FrameCost(len(f.Payload)))
	case wire.KindNotify:
		return s.srv.onNotify(f, wire.FrameCost(len(f.Payload)))
	case wire.KindPing, wire.KindPong, wire.KindGoAway:
		d.onLinkFrame(f)
		return nil
	case wire.KindCredit:
		return d.onCredit(f)
	case wire.KindReset:
		return d.onResetFrame(f)
	}
	// DATA and STATUS, for their channel.
	ch, err := d.lookup(desc.Channel())
	if ch == nil {
		s.t.Release(f)
		return err
	}
	if desc.Kind() == wire.KindStatus && !ch.local {
		s.t.Release(f)
		return violation("STATUS on channel %d that the peer opened", desc.Channel())
	}
	return ch.onFrame(f)
}

// admitFrame checks what every frame must satisfy before it is routed
// (its kind, the PACKED flag, its channel, the peer's link credit) and
// takes a message-bearing frame's cost from that credit. A status means
// the frame breaks the protocol; the caller releases it.
func (d *dispatcher) admitFrame(f *transport.Frame) *plexus.Status {
	desc := &f.Desc
	kind, flags, id := desc.Kind(), desc.Flags(), desc.Channel()
	if kind == 0 || kind > wire.KindMax {
		return violation("frame kind %d flags %#x", kind, flags)
	}
	if flags&wire.FlagPacked != 0 && (kind != wire.KindData || flags&(wire.FlagMsg|wire.FlagMD) != wire.FlagMsg) {
		return violation("PACKED on a frame of kind %d with flags %#x", kind, flags)
	}
	if kind.CarriesMessage() {
		// The frame's cost comes from the peer's link credit, which must
		// be positive when the frame arrives. A call's or notification's
		// cost is given back by onOpen or onNotify, which know whether it
		// must wait for a handler; any other frame's counts towards the
		// next grant at once.
		if d.regranted.Load() != 0 {
			d.linkRemaining += d.regranted.Swap(0)
		}
		if d.linkRemaining <= 0 {
			return violation("link flow-control window exceeded")
		}
		cost := wire.FrameCost(len(f.Payload))
		d.linkRemaining -= cost
		if kind != wire.KindNotify && kind != wire.KindOpen {
			d.consumeLink(cost)
		}
	}
	if !channelAllowed(kind, id) {
		return violation("frame kind %d on channel %d", kind, id)
	}
	return nil
}

// onLinkFrame handles PING, PONG and GOAWAY (channel 0).
func (d *dispatcher) onLinkFrame(f *transport.Frame) {
	desc := &f.Desc
	switch desc.Kind() {
	case wire.KindPing:
		d.s.ctl.push(ctlFrame{kind: wire.KindPong, aux: desc.Aux()})
	case wire.KindGoAway:
		d.onGoAway(desc.Aux(), string(f.Payload))
	}
	d.s.t.Release(f)
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
	d.s.ctl.queueCredit(0, d.linkConsumed)
	d.linkConsumed = 0
}

// channelAllowed: link frames use channel 0, call frames a real channel,
// CREDIT and RESET either (on 0 they concern the whole link).
func channelAllowed(kind wire.Kind, id uint64) bool {
	switch kind {
	case wire.KindNotify, wire.KindPing, wire.KindPong, wire.KindGoAway:
		return id == 0
	case wire.KindOpen, wire.KindData, wire.KindStatus:
		return id != 0
	}
	return true
}

// lookup finds an open channel. A frame for a channel that existed and has
// finished is ignored (nil, nil): it may have crossed our RESET. A channel
// that never existed is a violation.
func (d *dispatcher) lookup(id uint64) (*channel, *plexus.Status) {
	s := d.s
	s.mu.Lock()
	ch := s.chans[id]
	next, peerMax := s.nextID, s.peerMaxID
	s.mu.Unlock()
	if ch != nil {
		return ch, nil
	}
	if s.cfg.Role.owns(id) {
		if id >= next {
			return nil, violation("frame for channel %d that this side never opened", id)
		}
	} else if id > peerMax {
		return nil, violation("frame for channel %d before its OPEN", id)
	}
	return nil, nil
}

// removeChannel takes ch out of the routing table: frames for it are
// ignored from then on (see lookup). The last channel out ends a Drain's
// wait.
func (d *dispatcher) removeChannel(ch *channel) {
	s := d.s
	s.mu.Lock()
	if s.chans[ch.id] == ch {
		delete(s.chans, ch.id)
	}
	if s.draining && len(s.chans) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}
