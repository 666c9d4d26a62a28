package session

import (
	"context"
	"errors"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// server is the serving side of a session: it starts the calls the peer
// opens (onOpen), admits them (admission.go), runs their handlers where
// the receiver says, itself or on workers (workers.go), and sends their
// statuses; and it queues the peer's notifications for their handlers
// (notify.go). The dispatcher hands it the frames that start either.
type server struct {
	s *Session

	calls    admission    // handlers running for the peer's calls, and calls waiting for one
	owed     atomic.Int64 // withheld link credit to give back (see repay)
	notes    noteQueue
	handlers sync.WaitGroup // calls and notifications not yet handled, waiting ones too (Drain waits)

	jobs        chan serveJob // to idle workers (see workers.go)
	idleWorkers atomic.Int32

	opens uint32 // calls opened, for sampleCost (dispatching goroutine)
}

type callKey struct{}

// SetTrailer sets the metadata returned to the caller with the call's
// status. It must be called from the handler, before it returns.
func SetTrailer(ctx context.Context, md plexus.Metadata) error {
	ch, ok := ctx.Value(callKey{}).(*channel)
	if !ok {
		return plexus.Errorf(plexus.FailedPrecondition, "SetTrailer outside a handler")
	}
	if ctx.Err() != nil {
		// The call has ended (or is ending): its channel may already
		// serve another call.
		return plexus.Errorf(plexus.FailedPrecondition, "SetTrailer after the call ended")
	}
	if _, err := wire.MetadataSize(md); err != nil {
		return err
	}
	ch.mu.Lock()
	ch.trailerOut = md
	ch.mu.Unlock()
	return nil
}

// onOpen accepts a call from the peer (reader goroutine). cost is the
// OPEN's flow-control cost: given back to the link's window now, unless
// the call must wait for a handler slot (see admit).
func (sv *server) onOpen(f *transport.Frame, cost int64) (err *plexus.Status) {
	s := sv.s
	waits := false
	defer func() {
		if !waits {
			s.disp.consumeLink(cost)
		}
	}()
	d := &f.Desc
	id := d.Channel()
	if s.cfg.Role.owns(id) {
		s.t.Release(f)
		return violation("peer opened channel %d, which has this side's parity", id)
	}
	s.mu.Lock()
	if id <= s.peerMaxID {
		s.mu.Unlock()
		s.t.Release(f)
		return violation("channel %d opened out of order or twice (last was %d)", id, s.peerMaxID)
	}
	s.peerMaxID = id
	refused := s.goAwaySent && id > s.goAwayLimit
	s.mu.Unlock()

	h, why := s.mux.lookup(d.Method())
	switch {
	case refused:
		s.t.Release(f)
		s.ctl.queueReset(id, plexus.Unavailable, "link is going away; call not started")
		return nil
	case h == nil:
		s.t.Release(f)
		s.ctl.queueReset(id, plexus.Unimplemented, why)
		return nil
	case h.kind == kindNotifyHandler:
		s.t.Release(f)
		s.ctl.queueReset(id, plexus.Unimplemented, h.name+" is a notification, not a call")
		return nil
	}

	ch := s.pool.newChannel(id, d.Method(), false)
	if len(s.cfg.Interceptors) != 0 {
		ch.obs = s.serveObs(d.Method(), h) // before onFrame, which counts the OPEN's bytes
	}
	ch.send.add(int64(d.Credit()))
	// Not derived from s.ctx: the end of the session reaches the handler
	// through ch.fail (die fails every channel), and a context without a
	// cancellable parent is not registered with one, which saves a lock
	// and a map insert and delete per call. Its deadline is watched by
	// the session's deadlines (see callctx.go).
	cc := newCallCtx(ch, d.Aux())
	ch.call = cc
	var ctx context.Context = cc
	if d.Flags()&wire.FlagMD != 0 {
		md, _, err := wire.ParseMetadata(f.Payload)
		if err != nil {
			s.t.Release(f)
			cc.cancel(err)
			return err.(*plexus.Status)
		}
		ctx = plexus.WithIncomingMetadata(ctx, md)
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		s.t.Release(f)
		cc.cancel(s.err)
		return nil
	}
	s.chans.put(id, ch)
	sv.handlers.Add(1)
	s.mu.Unlock()
	if err := ch.take(f, false); err != nil {
		sv.handlers.Done()
		cc.cancel(err)
		return err
	}
	if extra := s.cfg.ChannelWindow - DefaultChannelWindow; extra > 0 {
		s.ctl.queueCredit(id, int64(extra))
	}
	s.deadlines.add(cc)
	job := serveJob{ctx: ctx, cc: cc, ch: ch, h: h, timed: h.kind == kindUnaryHandler && sv.sampleCost()}
	if !sv.admit(job, cost) {
		waits = true
		return nil
	}
	s.rx.run(job)
	return nil
}

// serveJob is a call of the peer's to run: its handler's context (and
// the callCtx under it, whose deadline the session watches), its channel
// and its handler.
type serveJob struct {
	ctx context.Context
	cc  *callCtx
	ch  *channel
	h   *handler
	// after, if set, is called by the goroutine that runs the call right
	// after the call's STATUS has been sent: the receiver's hook for a
	// reader that ran the call itself (see pollReceiver).
	after func()
	// timed: the call's cost is measured for its handler's (see
	// handlerCost).
	timed bool
}

// serve runs a handler and sends the call's status. A panic in the
// handler becomes an INTERNAL status; the link survives it.
//
// j.ch may be recycled once serve returns, so its caller must not look at
// it. It returns the waiting call, if any, that takes the finished
// handler's place, for its caller to run (see handlerDone).
func (sv *server) serve(j serveJob) (next serveJob, more bool) {
	s := sv.s
	ctx, ch, h := j.ctx, j.ch, j.h
	defer sv.handlers.Done()
	defer func() { next, more = sv.handlerDone() }()
	defer s.deadlines.remove(j.cc)
	sv.hold()
	var start time.Duration
	if j.timed {
		start = time.Since(monoEpoch)
	}
	var resp plexus.Marshaler
	var req item
	var got bool
	obs := ch.obs
	ctx, err := obs.start(ctx)
	if err == nil {
		err = sv.runHandler(ctx, ch, h, &resp, &req, &got)
	}
	if err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = plexus.Errorf(plexus.DeadlineExceeded, "deadline exceeded while the handler ran")
	}
	if got {
		sv.finishServer(ch, resp, err, &req, j.after)
	} else {
		sv.finishServer(ch, resp, err, nil, j.after)
	}
	if j.timed {
		h.cost.note(time.Since(monoEpoch) - start)
	}
	obs.end(err)
	if h.kind != kindStreamHandler {
		// A stream handler's Stream points at ch and may outlive the
		// call in the application's hands; a unary handler has nothing
		// but its context, which SetTrailer checks.
		s.pool.retire(ch)
	}
	return serveJob{}, false
}

// runHandler runs h; a unary request it received is left in *req (and
// *got set) for the caller to release once the response is encoded.
func (sv *server) runHandler(ctx context.Context, ch *channel, h *handler, resp *plexus.Marshaler, req *item, got *bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sv.s.log.Error("handler panicked", "method", h.name, "panic", r, "stack", string(debug.Stack()))
			err = plexus.Errorf(plexus.Internal, "handler %s panicked: %v", h.name, r)
		}
	}()
	if h.kind == kindStreamHandler {
		st := &Stream{ch: ch, ctx: ctx, server: true}
		defer st.discardPacked() // after a panic; a no-op once flushed
		err := h.stream(ctx, st)
		if ferr := st.Flush(); err == nil {
			err = ferr // what the handler buffered goes before its status
		}
		return err
	}
	it, err := ch.next(ctx)
	if err == io.EOF {
		return plexus.Errorf(plexus.InvalidArgument, "unary call %s without a request message", h.name)
	}
	if err != nil {
		return err
	}
	*req, *got = it, true
	if h.desc != nil && h.desc.Idempotent && sv.s.cfg.Idempotency != nil {
		if key := idempotencyKeyOf(ctx); key != "" {
			*resp, err = sv.s.cfg.Idempotency.cachedUnary(ctx, ch.method, key, h.unary, it.msg)
			return err
		}
	}
	*resp, err = h.unary(ctx, it.msg)
	return err
}

// finishServer sends the final STATUS unless the caller already ended the
// call (RESET) or the link died.
//
// req, if not nil, is the unary request, released as soon as the
// response is encoded (the response may be part of it) and before the
// response is sent, so that the caller never sees the response while its
// request's memory is still held. after, if not nil, runs right after the
// send (see serveJob).
func (sv *server) finishServer(ch *channel, resp plexus.Marshaler, herr error, req *item, after func()) {
	s := sv.s
	defer func() {
		s.disp.removeChannel(ch)
		ch.drop()
		ch.call.cancel(context.Canceled)
	}()
	ch.mu.Lock()
	// The peer never sends STATUS on a channel it opened, so a call
	// already over here was ended by a RESET from the caller or the
	// death of the link.
	gone := ch.step(evSendStatus) != vAllow
	trailer := ch.trailerOut
	ch.mu.Unlock()
	if gone {
		if req != nil {
			ch.done(req)
		}
		return
	}
	// The handler has returned, so nothing else sends on this channel and
	// its scratch descriptor and payload are free.
	d := &ch.desc
	var payload []byte
	var fromAlloc bool
	var flags uint8
	var err error
	if herr == nil {
		payload, fromAlloc, flags, err = s.encode(context.Background(), trailer, resp, nil, ch.scratch[:0])
		if err != nil {
			herr = err
		} else {
			newDesc(d, wire.KindStatus, ch.id, flags|wire.FlagEnd)
		}
	}
	if herr != nil {
		st := statusFromError(herr)
		payload, fromAlloc, flags, err = s.encode(context.Background(), trailer, nil, st, ch.scratch[:0])
		if err != nil {
			// The status itself does not fit (huge message or trailer):
			// send the code alone.
			payload, fromAlloc, flags, _ = s.encode(context.Background(), nil, nil, &plexus.Status{Code: st.Code}, ch.scratch[:0])
		}
		newDesc(d, wire.KindStatus, ch.id, flags|wire.FlagEnd)
		d.SetAux(uint64(st.Code))
	}
	early := req != nil && ch.standsAlone(payload, fromAlloc)
	if early {
		ch.done(req)
	}
	err = s.sendFrame(context.Background(), ch, d, payload, fromAlloc)
	if req != nil && !early {
		ch.done(req)
	}
	if after != nil {
		// The receiver's hook: a reader that ran the handler takes the
		// token back now, before the caller's next call can ring.
		after()
	}
	if err != nil {
		s.log.Debug("status not sent", "channel", ch.id, "error", err)
	}
}

// standsAlone reports whether an encoded payload holds the response by
// itself: in transport memory or in ch.scratch (encode), or empty. Any
// other (a message that outgrew its Msgsize, or ignored the buffer it was
// given) may still point into the request until Send copies it.
func (ch *channel) standsAlone(payload []byte, fromAlloc bool) bool {
	return fromAlloc || len(payload) == 0 || &payload[0] == &ch.scratch[0]
}

// hold waits for Config.Hold to be closed (or the session to end).
func (sv *server) hold() {
	s := sv.s
	if s.cfg.Hold == nil {
		return
	}
	// Once Hold is closed (every call but the first few), a one-case
	// receive answers without a lock; the select below locks both
	// channels.
	select {
	case <-s.cfg.Hold:
		return
	default:
	}
	select {
	case <-s.cfg.Hold:
	case <-s.done:
	}
}
