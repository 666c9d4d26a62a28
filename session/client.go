package session

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// open starts a call: it allocates the channel ID and sends the OPEN with
// the first message (if any), under openMu so that IDs reach the peer in
// increasing order as the protocol requires.
func (s *Session) open(ctx context.Context, method uint64, first plexus.Marshaler, end bool, obs *callObs, window int64) (*channel, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxStatus(ctx)
	}
	// Refuse before encoding where possible: encoding spends a lease, and
	// a refused call (ErrNotSent) should leave it to be sent elsewhere.
	// openRefused spares the lock of every call while opens are allowed;
	// the look under the lock below, with the ID, decides.
	var refuse *plexus.Status
	if s.openRefused.Load() {
		s.mu.Lock()
		refuse = s.refuseOpenLocked()
		s.mu.Unlock()
		if refuse != nil {
			return nil, refuse
		}
	}
	// The channel exists before the payload and its ID: a small payload
	// is encoded into it (see encode), and the OPEN descriptor lives in
	// it too (a local one would escape through the transport interface
	// and cost an allocation per call).
	ch := s.pool.newChannel(0, method, true)
	ch.obs = obs
	if window > ch.window {
		ch.window = window
		ch.remaining.Store(window)
	}
	payload, fromAlloc, flags, err := s.encode(ctx, plexus.OutgoingMetadata(ctx), first, nil, ch.scratch[:0])
	if err != nil {
		s.pool.recycle(ch)
		return nil, s.encodeFailed(err)
	}
	if end {
		flags |= wire.FlagEnd
	}
	cost := wire.FrameCost(len(payload))
	if err := s.link.take(ctx, s.done, cost, s.blocking); err != nil {
		s.freeIf(payload, fromAlloc)
		s.pool.recycle(ch)
		return nil, err
	}
	d := &ch.desc
	newDesc(d, wire.KindOpen, 0, flags)
	d.SetMethod(method)
	if extra := ch.window - DefaultChannelWindow; extra > 0 {
		d.SetCredit(uint32(extra))
	}

	if !s.openMu.lock(ctx) {
		return nil, s.unopen(ch, first, payload, fromAlloc, cost, ctxStatus(ctx))
	}
	// The remaining time is measured last, after encoding and waiting for
	// link credit: the peer adds it to its own clock on arrival, so any
	// wait before the send would extend the handler's deadline.
	var aux uint64
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl); rem > 0 {
			aux = uint64(rem)
		} else {
			refuse = plexus.Errorf(plexus.DeadlineExceeded, "deadline passed before the call started")
		}
	}
	d.SetAux(aux)
	s.mu.Lock()
	if refuse == nil {
		refuse = s.refuseOpenLocked()
	}
	if refuse != nil {
		s.mu.Unlock()
		s.openMu.unlock()
		return nil, s.unopen(ch, first, payload, fromAlloc, cost, refuse)
	}
	id := s.nextID
	s.nextID += 2
	ch.id = id
	ch.send.n.Add(-cost)
	if end {
		// The OPEN ends this side. ch.mu is not needed: nothing else can
		// see ch until it is in the session's map.
		ch.step(evSendEnd)
	}
	s.chans.put(id, ch)
	s.mu.Unlock()
	d.SetChannel(id)
	obs.countSent(len(payload))
	err = s.send(ctx, d, payload)
	s.openMu.unlock()
	if err != nil {
		s.disp.removeChannel(ch)
		return nil, s.sendFailed(err)
	}
	return ch, nil
}

// encodeFailed is the error of a call whose first message could not be
// encoded. After the session ended the transport refuses Alloc; report
// why the session ended, as for every other call.
func (s *Session) encodeFailed(err error) error {
	if serr := s.notSent(); serr != nil {
		return serr
	}
	return err
}

// unopen undoes open's steps for a call refused (err) before its OPEN
// left: the link credit it took, its payload (given back to a lease that
// was sent as it is, so that the caller may send it elsewhere), and its
// channel.
func (s *Session) unopen(ch *channel, first plexus.Marshaler, payload []byte, fromAlloc bool, cost int64, err *plexus.Status) error {
	s.link.refund(cost)
	if l, ok := first.(*Lease); !ok || !l.unspend(payload) {
		s.freeIf(payload, fromAlloc)
	}
	s.pool.recycle(ch)
	return err
}

// ErrNotSent is the cause of the status of a call that never left this
// side (the session had ended, was draining, or the peer had sent GOAWAY):
// errors.Is(err, ErrNotSent) tells a caller, such as a pool of plugin
// instances, that the call is safe to retry elsewhere.
var ErrNotSent = errors.New("session: call not sent")

// notSent is the session's final status marked ErrNotSent, or nil while
// the session runs.
func (s *Session) notSent() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return nil
	}
	return plexus.WithCause(s.err.Code, ErrNotSent, s.err.Message)
}

func (s *Session) refuseOpenLocked() *plexus.Status {
	switch {
	case s.err != nil:
		return plexus.WithCause(s.err.Code, ErrNotSent, s.err.Message)
	case s.draining:
		return plexus.WithCause(plexus.Unavailable, ErrNotSent, "link is draining")
	case s.goAwayRecv:
		return plexus.WithCause(plexus.Unavailable, ErrNotSent, "peer is going away")
	}
	return nil
}

// Invoke makes a unary call: one request, one response. resp may be nil to
// discard the response.
func (s *Session) Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error {
	var obs *callObs
	if len(s.cfg.Interceptors) != 0 {
		var err error
		if ctx, obs, err = s.startCall(ctx, method, plexus.Unary); err != nil {
			return err
		}
	}
	var rang uint64
	if s.ringer != nil {
		rang = s.ringer.Rang()
	}
	ch, err := s.open(ctx, method, req, true, obs, 0)
	if err != nil {
		obs.end(err)
		return err
	}
	ch.woke = s.ringer != nil && s.ringer.Rang() != rang
	ch.unary = true
	it, err := ch.next(ctx)
	if err != nil {
		if err == io.EOF {
			err = plexus.Errorf(plexus.Internal, "unary call ended without a response")
		}
		ch.abandon(err.(*plexus.Status))
		return err
	}
	if err := ch.consume(&it, resp); err != nil {
		ch.abandon(err.(*plexus.Status))
		return err
	}
	if extra, err := ch.next(ctx); err != io.EOF {
		if err == nil {
			ch.done(&extra)
			err = plexus.Errorf(plexus.Internal, "unary call got more than one response")
		}
		ch.abandon(err.(*plexus.Status))
		return err
	}
	if dst := plexus.ResponseMetadataDest(ctx); dst != nil {
		ch.deliverTrailer(dst)
	}
	obs.end(nil)
	if _, retainer := resp.(plexus.Retainer); !retainer {
		s.pool.recycle(ch)
	} else if ch.retainRefs.Load() != 0 {
		// The response is kept past the call (retain): the channel goes
		// back to the pool once the release is done with it too. Any
		// other Retainer's (a packed frame's, whose release holds the
		// channel) is left to the garbage collector.
		ch.doneRetained()
	}
	return nil
}

// abandon ends a call from the caller's side. If the peer has not finished
// the channel it is told with a RESET, which cancels its handler. The
// RESET goes through the control writer: a caller whose deadline has
// passed must not then wait for ring space (a peer that stopped reading
// would hold it for the transport's whole wait bound); the frames it sent
// itself are in the ring already, so the RESET cannot overtake them.
func (ch *channel) abandon(st *plexus.Status) {
	ch.obs.end(st) // first: the call's status is st, whatever a late frame says
	ch.mu.Lock()
	peerDone := ch.step(evSendReset) != vAllow
	if !peerDone {
		ch.final = st
	}
	ch.step(evFinish) // under the same lock: see onFrame and next
	ch.mu.Unlock()
	ch.s.disp.removeChannel(ch)
	ch.send.close(st)
	if !peerDone {
		ch.s.ctl.queueReset(ch.id, st.Code, st.Message)
	}
	ch.drop()
	ch.signal()
}

// deliverTrailer hands the call's trailer to dst, the caller's
// plexus.ResponseMetadataDest. The caller looks dst up, so that a call
// without one (most) enters no function for it.
func (ch *channel) deliverTrailer(dst *plexus.Metadata) {
	ch.mu.Lock()
	*dst = ch.trailer
	ch.mu.Unlock()
}

// Notify sends a one-way message: no response, no delivery guarantee past
// the transport.
func (s *Session) Notify(ctx context.Context, method uint64, m plexus.Marshaler) error {
	if err := s.notSent(); err != nil {
		return err
	}
	var obs *callObs
	if len(s.cfg.Interceptors) != 0 {
		var err error
		if ctx, obs, err = s.startCall(ctx, method, plexus.Notification); err != nil {
			return err
		}
	}
	payload, fromAlloc, flags, err := s.encode(ctx, plexus.OutgoingMetadata(ctx), m, nil, nil)
	if err != nil {
		err = s.encodeFailed(err)
		obs.end(err)
		return err
	}
	var d wire.Desc
	newDesc(&d, wire.KindNotify, 0, flags)
	d.SetMethod(method)
	obs.countSent(len(payload))
	err = s.sendFrame(ctx, nil, &d, payload, fromAlloc)
	obs.end(err)
	return err
}
