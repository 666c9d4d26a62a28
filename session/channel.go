package session

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// item is a received message waiting for the application: the frame (to
// release) and the message bytes inside its payload.
type item struct {
	f   transport.Frame
	msg []byte
	// pk: a message of a packed frame, holding a reference to it (f is
	// empty). packed: a whole packed frame in the queue, not yet split.
	pk     *packRef
	packed bool
}

// channel is the state of one call on either side.
type channel struct {
	s      *Session
	id     uint64
	method uint64
	local  bool // this side opened it (the caller's end)
	// woke: the send that opened this unary call rang the peer's
	// doorbell (see Invoke and pollCall). Set by the caller's goroutine
	// before it waits; read by it while it polls.
	woke bool

	send credit          // our send window on this channel
	desc wire.Desc       // scratch for frames this side sends from the caller's goroutine
	rel  transport.Frame // scratch for releasing a consumed frame (guarded by mu)
	// scratch holds the payload of a frame this side sends, with desc,
	// when it is small enough to travel in the descriptor (see encode).
	scratch [wire.InlineMax]byte

	mu         sync.Mutex
	queue      []item
	head       int
	wake       chan struct{}   // capacity 1: something changed for the receiver
	final      *plexus.Status  // set with stFinal
	trailer    plexus.Metadata // received with the final status
	trailerOut plexus.Metadata // handler side: sent with the final status
	consumed   int64           // bytes consumed since the last grant
	// st is the chanState (see channel_state.go), changed only under mu
	// to what transition returns, and cleared by reset. Atomic, so that
	// Send, once per message, and the receiver's cursor (see fromCursor)
	// can see that the call goes on without taking mu.
	st atomic.Uint32
	// remaining is the peer's credit on this channel as we enforce it:
	// the reader subtracts, consumers add what they grant.
	remaining atomic.Int64
	// window is the channel's receive window: the session's
	// ChannelWindow, or a stream's own (WithRecvWindow), set before the
	// OPEN goes out. Consumers grant credit at half of it.
	window int64

	// The receiver's cursor into a packed frame (see fromCursor): rxPk
	// is the frame, rxRest what is left of its records. Only the
	// receiving goroutine moves the cursor; others may only close it.
	rxPk   atomic.Pointer[packRef]
	rxRest []byte

	call *callCtx // server side: the handler's context, which fail cancels

	// obs is the call's interceptors (interceptor.go), nil without any.
	// Set before the call's first frame (open, onOpen) and cleared by
	// newChannel.
	obs *callObs

	// A unary call's response that a Retainer (a lease, a message with
	// views) keeps past Invoke: unary marks the call (Invoke sets it,
	// newChannel clears it), held is the frame, releaseHeld the release
	// the message gets (bound once per channel, so that handing it over
	// allocates nothing), and retainRefs counts the two that must be
	// done with the channel before it goes back to the pool, Invoke and
	// the release (see retain).
	unary       bool
	held        item
	releaseHeld func()
	retainRefs  atomic.Int32
}

// maxFreeChans bounds the recycled channels a session keeps (about the
// number of calls it had in flight at once, at most this).
const maxFreeChans = 1024

// chanPool keeps finished channels for the next calls, so that a unary
// call allocates nothing in steady state. Not a sync.Pool: the garbage
// collector empties those, and the next calls would allocate again.
type chanPool struct {
	s *Session // the session its channels belong to

	mu   sync.Mutex
	free []*channel
	// Finished serving-side channels waiting to be recycled (see retire),
	// and how many there are, read without mu by dispatch.
	retired  []*channel
	retiredN atomic.Int32
	dying    atomic.Bool // set by die before it collects the channels to fail
}

// newChannel takes a channel from the pool (see recycle), or makes one,
// and starts a call on it. A recycled channel is cleared here, when it is
// taken, rather than when it is put back: the work is the same, but the
// call that finishes enters no function for it. (A new channel, rare once
// the pool is warm, is cleared all the same.)
func (p *chanPool) newChannel(id, method uint64, local bool) *channel {
	var ch *channel
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		ch = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	s := p.s
	if ch == nil {
		ch = &channel{s: s, wake: make(chan struct{}, 1)}
		ch.releaseHeld = ch.releaseRetained
	}
	// Under mu, as everywhere else: a goroutine the previous call's
	// handler left behind may still try SetTrailer through its context.
	ch.mu.Lock()
	clear(ch.queue)
	ch.queue, ch.head = ch.queue[:0], 0
	ch.final, ch.trailer, ch.trailerOut = nil, nil, nil
	ch.st.Store(0) // the call starts open
	ch.rxPk.Store(nil)
	ch.rxRest = nil
	ch.consumed, ch.call, ch.obs = 0, nil, nil
	ch.mu.Unlock()
	// (retainRefs is zero: a channel whose response was retained comes
	// back only once both are done, see doneRetained.)
	ch.id, ch.method, ch.local, ch.woke, ch.unary = id, method, local, false, false
	// The send window without its lock: the previous call's senders are
	// gone (no stream is recycled), and nobody else can reach ch yet.
	ch.send.n.Store(DefaultChannelWindow)
	ch.send.err, ch.send.wake = nil, nil
	ch.window = int64(s.cfg.ChannelWindow)
	ch.remaining.Store(ch.window)
	return ch
}

// recycle returns a finished caller-side channel to the pool. Only a
// channel that nothing else can reach may be recycled: the caller has
// consumed the final status, the reader removed the channel from the map
// before publishing that status (dispatch) and touches only s and wake
// afterwards, which are never cleared, and no Retainer or context watcher
// holds it.
func (p *chanPool) recycle(ch *channel) {
	p.mu.Lock()
	if len(p.free) < maxFreeChans {
		p.free = append(p.free, ch)
	}
	p.mu.Unlock()
}

// retire queues a finished serving-side unary channel for recycling. It
// cannot go straight back into the pool the way a caller's channel does:
// the reader removes a caller's channel from the map itself before it
// publishes the final status, but a serving channel is removed by the
// goroutine that ran the handler, while the reader may be dispatching a
// frame for it that it looked up just before (a late RESET or DATA). Such
// a reference ends with that dispatch, so reclaim, which runs at the start
// of the next one, is the first point where nothing but the pool holds
// the channel. The handler's context still points at it (callKey), which
// is why SetTrailer refuses once that context is cancelled.
func (p *chanPool) retire(ch *channel) {
	p.mu.Lock()
	if len(p.retired)+len(p.free) < maxFreeChans {
		p.retired = append(p.retired, ch)
		p.retiredN.Store(int32(len(p.retired)))
	}
	p.mu.Unlock()
}

// reclaim recycles the retired channels (see retire). It runs on the
// receiving side, between dispatches. Once the session is dying it drops
// them instead: die fails every channel it found in the map, and one it
// found may have been retired since, so none may be taken for a new call
// (which would clear it under die's feet, see newChannel).
//
// One look at dying, under mu, is enough: a channel retired before die
// took the map had been removed from it (finishServer), so die did not
// find it; one retired after that was retired after die set dying, which
// this look then sees.
func (p *chanPool) reclaim() {
	p.mu.Lock()
	r := p.retired
	if !p.dying.Load() {
		p.free = append(p.free, r[:max(0, min(len(r), maxFreeChans-len(p.free)))]...)
	}
	clear(r)
	p.retired = r[:0]
	p.retiredN.Store(0)
	p.mu.Unlock()
}

func (ch *channel) signal() {
	select {
	case ch.wake <- struct{}{}:
	default:
	}
}

// inFrame is what onFrame reads from an OPEN, DATA or STATUS frame.
type inFrame struct {
	ev      chanEvent
	flags   uint8
	payload []byte // past the metadata
	md      plexus.Metadata
	final   *plexus.Status // a STATUS's
}

// onFrame queues the message of an OPEN, DATA or STATUS frame (reader
// goroutine), taking it through ch's state machine. The state moves only
// once the frame is known to be good: a bad frame ends the link with the
// channel as it was. A plain frame (no metadata, not packed, a STATUS
// that is OK) needs nothing but its flags; parseFrame reads the others.
func (ch *channel) onFrame(f *transport.Frame) *plexus.Status { return ch.take(f, true) }

// take is onFrame; signal false skips the wake-up, for the OPEN of a
// channel just made, which nobody can be waiting on yet (its handler
// starts after it): a send on the wake channel locks it.
func (ch *channel) take(f *transport.Frame, signal bool) *plexus.Status {
	s := ch.s
	if ch.remaining.Load() <= 0 {
		s.t.Release(f)
		return violation("channel %d flow-control window exceeded", ch.id)
	}
	ch.remaining.Add(-wire.FrameCost(len(f.Payload)))
	ch.obs.countRecv(len(f.Payload))
	d := &f.Desc
	in := inFrame{ev: frameEvent(d), flags: d.Flags(), payload: f.Payload}
	in.final = plainFinal(in.ev)
	if !plainFrame(d) {
		if err := ch.parseFrame(f, &in); err != nil {
			s.t.Release(f)
			return err
		}
	}
	// (A STATUS has taken ch out of the session's table: see dispatch.)
	ch.mu.Lock()
	cur := ch.state()
	next, v := transition(cur, in.ev)
	if v != vAllow {
		ch.mu.Unlock()
		s.t.Release(f)
		if v == vViolation {
			return violation("frame on channel %d after its end", ch.id)
		}
		// vIgnore: this side is done with the channel (abandoned it, or
		// dropped its queue), but the reader looked it up just before it
		// left the session's map. The frame crossed our RESET or end:
		// ignore it, as lookup would have, rather than queue it where
		// nobody releases it or take it for a frame after the peer's end.
		return nil
	}
	if in.flags&wire.FlagMsg != 0 {
		// A packed frame (validated whole by parseFrame) is split by the
		// receiver (fromCursor).
		ch.queue = append(ch.queue, item{f: *f, msg: in.payload, packed: in.flags&wire.FlagPacked != 0})
	}
	if in.final != nil {
		ch.final, ch.trailer = in.final, in.md
	}
	ch.enter(cur, next)
	wake := ch.wake
	ch.mu.Unlock()
	if in.flags&wire.FlagMsg == 0 {
		s.t.Release(f)
	}
	if signal {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// frameEvent is the state machine's event for an OPEN, DATA or STATUS
// frame. (A DATA frame with neither a message nor END is a violation,
// which parseFrame reports.)
func frameEvent(d *wire.Desc) chanEvent {
	switch {
	case d.Kind() == wire.KindStatus:
		return evRecvStatus
	case d.Flags()&wire.FlagEnd != 0:
		return evRecvEnd
	}
	return evRecvData
}

// plainFinal is the final status a plain frame carries: OK for a STATUS.
func plainFinal(ev chanEvent) *plexus.Status {
	if ev == evRecvStatus {
		return statusOK
	}
	return nil
}

// plainFrame reports a frame whose flags say all there is to know: no
// metadata, not packed, a STATUS that is OK, a DATA frame that carries a
// message or END.
func plainFrame(d *wire.Desc) bool {
	f := d.Flags()
	return f&(wire.FlagMD|wire.FlagPacked) == 0 &&
		(d.Kind() != wire.KindStatus || d.Aux() == uint64(plexus.OK)) &&
		(d.Kind() != wire.KindData || f&(wire.FlagMsg|wire.FlagEnd) != 0)
}

// parseFrame reads what plainFrame does not cover into in: the metadata,
// a STATUS that is not OK (whose payload is the status body, not a
// message), a packed payload (validated whole). A status means the frame
// breaks the protocol whatever the channel's state.
func (ch *channel) parseFrame(f *transport.Frame, in *inFrame) *plexus.Status {
	d := &f.Desc
	if in.flags&wire.FlagMD != 0 {
		var err error
		if in.md, in.payload, err = wire.ParseMetadata(in.payload); err != nil {
			return err.(*plexus.Status)
		}
	}
	switch code := plexus.Code(d.Aux()); {
	case d.Kind() == wire.KindStatus && code != plexus.OK:
		st, err := wire.ParseStatusBody(code, in.payload)
		if err != nil {
			return err.(*plexus.Status)
		}
		in.final, in.payload = st, nil
		in.flags &^= wire.FlagMsg
	case d.Kind() == wire.KindData && in.flags&(wire.FlagMsg|wire.FlagEnd) == 0:
		return violation("DATA on channel %d without a message or END", ch.id)
	case in.flags&wire.FlagPacked != 0:
		if _, err := countPacked(in.payload); err != nil {
			return err
		}
	}
	return nil
}

var statusOK = &plexus.Status{Code: plexus.OK}

// onReset aborts the channel from the peer's side (reader goroutine).
func (ch *channel) onReset(st *plexus.Status) {
	ch.s.disp.removeChannel(ch)
	ch.fail(st, evRecvReset)
}

// fail ends the channel locally with st unless it already has a final
// status: pending receives return st, senders stop, the handler (if any)
// sees its context cancelled. e is why: evRecvReset or evLinkDied.
func (ch *channel) fail(st *plexus.Status, e chanEvent) {
	ch.mu.Lock()
	if ch.step(e) == vAllow {
		ch.final = st
	}
	ch.mu.Unlock()
	ch.send.close(st)
	if ch.call != nil {
		ch.call.cancel(st)
	}
	ch.signal()
}

// next waits for the next message. It returns io.EOF when the peer ended
// its side cleanly, or the final status. The item's frame must be released
// with done. How it waits, and whether it receives for itself meanwhile,
// is the receiver's business (see receiver.await).
func (ch *channel) next(ctx context.Context) (item, error) {
	for {
		// A call whose context has ended, or that this side abandoned,
		// delivers no more messages, even ones already queued: the
		// caller asked to stop, and racing the abandon must not decide
		// what Recv returns.
		if ctx.Err() != nil {
			ch.closeCursor()
			return item{}, ctxStatus(ctx)
		}
		if pk := ch.rxPk.Load(); pk != nil {
			if msg, pk := ch.fromCursor(pk); pk != nil {
				return item{msg: msg, pk: pk}, nil
			}
		}
		ch.mu.Lock()
		// The final status once this side is done with the channel, or
		// once the queue is empty and the peer will send nothing more.
		if st := ch.state(); st&stFinished != 0 || (ch.head >= len(ch.queue) && st&stRecvEnd != 0) {
			final := ch.final
			ch.mu.Unlock()
			if final == nil || final.Code == plexus.OK {
				return item{}, io.EOF
			}
			return item{}, final
		}
		if ch.head < len(ch.queue) {
			it := ch.queue[ch.head]
			ch.queue[ch.head] = item{}
			ch.head++
			if ch.head == len(ch.queue) {
				ch.queue, ch.head = ch.queue[:0], 0
			}
			ch.mu.Unlock()
			if it.packed {
				ch.startCursor(&it)
				continue
			}
			return it, nil
		}
		ch.mu.Unlock()
		if !ch.s.rx.await(ch, ctx) {
			return item{}, ctxStatus(ctx)
		}
	}
}

// done releases a consumed item (see consume).
func (ch *channel) done(it *item) { _ = ch.consume(it, nil) }

// drop releases every queued frame (the channel is being abandoned).
func (ch *channel) drop() {
	ch.mu.Lock()
	ch.step(evFinish)
	q := ch.queue[ch.head:]
	if len(q) == 0 {
		// Nothing to release: the queue keeps its array for the
		// channel's next call (a served unary call's OPEN is queued
		// into it, and would otherwise cost an allocation per call).
		ch.queue = ch.queue[:0]
	} else {
		ch.queue = nil // q is released below, outside the lock
	}
	ch.head = 0
	ch.mu.Unlock()
	for i := range q {
		ch.s.t.Release(&q[i].f)
	}
	// The receiver may be splitting a packed frame: its messages out
	// with it hold references of their own, so closing the cursor here
	// releases the frame only once they are done too.
	ch.closeCursor()
}

// grant sends a CREDIT for ch. The grant is added to the enforcement
// counter before the frame leaves, so the peer can never use credit the
// reader does not know about.
func (ch *channel) grant(n int64) {
	ch.remaining.Add(n)
	var d wire.Desc
	newDesc(&d, wire.KindCredit, ch.id, 0)
	d.SetCredit(uint32(n))
	_ = ch.s.sendFrame(context.Background(), nil, &d, nil, false) // rare: half a window per grant
}
