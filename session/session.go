package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Session is one end of a link: it makes calls to the peer and serves the
// peer's calls, over one transport.
type Session struct {
	t   transport.Transport
	cs  transport.ContextSender // t, or plainSender{t} if its sends cannot wait (see send)
	cfg Config
	mux *Mux
	log hclog.Logger

	ctx    context.Context // parent of every handler context; cancelled at the end
	cancel context.CancelCauseFunc
	done   chan struct{}

	openMu ctxMutex // held from ID allocation to the OPEN's send, so IDs reach the peer in order

	mu          sync.Mutex
	chans       map[uint64]*channel
	nextID      uint64 // next ID this side opens
	peerMaxID   uint64 // highest ID the peer opened
	goAwaySent  bool
	goAwayLimit uint64 // peer IDs above this are refused
	goAwayRecv  bool
	peerLimit   uint64 // our IDs above this will not be served
	draining    bool
	drained     chan struct{} // closed when draining and no channel is left
	err         *plexus.Status

	link *credit // link-level send window
	// Recycled caller-side channels (see recycle). Not a sync.Pool: the
	// garbage collector empties those, and the next calls would allocate
	// again, so a unary call would not be allocation-free in steady state.
	freeMu    sync.Mutex
	freeChans []*channel
	// Finished serving-side channels waiting to be recycled (see retire),
	// and how many there are, read without freeMu by dispatch.
	retired  []*channel
	retiredN atomic.Int32
	dying    atomic.Bool // set by die before it collects the channels to fail

	// Receive-side accounting, touched only by the dispatching goroutine:
	// the credit the peer still has on the link, and the bytes dispatched
	// since the last link grant. Credit given back from elsewhere (for a
	// waiting call or a queued notification, see repay) arrives through
	// regranted, which dispatch folds in before it checks a frame: the
	// peer can use that credit only after the CREDIT frame that follows.
	linkRemaining int64
	linkConsumed  int64
	regranted     atomic.Int64

	calls    admission    // handlers running for the peer's calls, and calls waiting for one
	owed     atomic.Int64 // withheld link credit to give back (see repay)
	rx       receiver     // who receives, and how (see receiver)
	ctl      ctlQueue
	notes    noteQueue
	rxFrames atomic.Uint64 // frames received, for idle detection
	handlers sync.WaitGroup

	jobs        chan serveJob // to idle workers (see workers.go)
	idleWorkers atomic.Int32
}

// New starts a session over t. The session owns t from now on.
func New(t transport.Transport, cfg Config) *Session {
	s := newSession(t, cfg)
	s.rx.start()
	return s
}

// newSession is New without the receiver's goroutines, which tests of a
// receiver start (or stand in for) themselves.
func newSession(t transport.Transport, cfg Config) *Session {
	cfg = cfg.withDefaults()
	s := &Session{
		t: t, cfg: cfg, mux: cfg.Mux, log: cfg.Logger,
		done:  make(chan struct{}),
		jobs:  make(chan serveJob),
		chans: make(map[uint64]*channel),
		link:  newCredit(DefaultLinkWindow),
	}
	s.linkRemaining = int64(cfg.LinkWindow)
	if cs, ok := t.(transport.ContextSender); ok {
		s.cs = cs
	} else {
		s.cs = plainSender{t}
	}
	if cfg.Role == Acceptor {
		s.nextID = 2
	} else {
		s.cfg.Role = Initiator
		s.nextID = 1
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	s.ctl.init()
	s.openMu.init()
	if extra := cfg.LinkWindow - DefaultLinkWindow; extra > 0 {
		s.queueCredit(0, int64(extra))
	}
	s.rx = newReceiver(s)
	go s.writeLoop()
	if cfg.KeepaliveIdle > 0 {
		go s.keepalive()
	}
	return s
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return nil
	}
	return s.err
}

// Close ends the session at once: calls in flight fail with LinkClosed and
// handlers' contexts are cancelled. Use Drain for a graceful end.
func (s *Session) Close() error {
	s.die(plexus.Errorf(plexus.LinkClosed, "session closed"))
	return nil
}

var errSessionDone = plexus.Errorf(plexus.LinkClosed, "session ended")

// die ends the session with st: the first cause wins.
func (s *Session) die(st *plexus.Status) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = st
	s.dying.Store(true)
	chans := s.chans
	s.chans = nil
	s.mu.Unlock()

	// Close the transport first: a handler woken by the cancellation below
	// would otherwise race to send its final STATUS (CANCELED, say) before
	// the link goes down, and the peer's call would fail with that status
	// instead of PEER_DIED.
	_ = s.t.Close()
	s.cancel(st)
	s.link.close(st)
	close(s.done)
	for _, ch := range chans {
		ch.fail(st, evLinkDied)
	}
	if st.Code == plexus.ProtocolViolation {
		// Found here or by the transport (a bad descriptor, doorbell,
		// or control message): either way the peer broke the link.
		s.log.Warn("protocol violation; closing link", "error", st)
		return
	}
	s.log.Debug("session ended", "status", st)
}

// classifyRecv turns a transport error into the session's final status.
func classifyRecv(err error) *plexus.Status {
	var st *plexus.Status
	if errors.As(err, &st) {
		return st
	}
	return plexus.WithCause(plexus.PeerDied, err, "transport failed: "+err.Error())
}

// ended reports whether the session is over.
func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// recvFailed ends the session over a receive error or, fromDispatch, a
// frame that dispatch refused.
func (s *Session) recvFailed(err error, fromDispatch bool) {
	if fromDispatch {
		s.dispatchFailed(err.(*plexus.Status))
		return
	}
	s.die(classifyRecv(err))
}

// dispatchFailed ends the session over a frame dispatch refused.
func (s *Session) dispatchFailed(err *plexus.Status) {
	if err.Code == plexus.ProtocolViolation {
		// Tell the peer why before closing; best effort, as the link is
		// being torn down anyway.
		var d wire.Desc
		newDesc(&d, wire.KindReset, 0, 0)
		d.SetAux(uint64(plexus.ProtocolViolation))
		_ = s.t.Send(&d, []byte(err.Message))
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
func (s *Session) dispatch(f *transport.Frame) *plexus.Status {
	if s.retiredN.Load() > 0 {
		s.reclaim()
	}
	if st := s.admitFrame(f); st != nil {
		s.t.Release(f)
		return st
	}
	d := &f.Desc
	switch d.Kind() {
	case wire.KindOpen:
		return s.onOpen(f, wire.FrameCost(len(f.Payload)))
	case wire.KindNotify:
		return s.onNotify(f, wire.FrameCost(len(f.Payload)))
	case wire.KindPing, wire.KindPong, wire.KindGoAway:
		s.onLinkFrame(f)
		return nil
	case wire.KindCredit:
		return s.onCredit(f)
	case wire.KindReset:
		return s.onResetFrame(f)
	}
	// DATA and STATUS, for their channel.
	ch, err := s.lookup(d.Channel())
	if ch == nil {
		s.t.Release(f)
		return err
	}
	if d.Kind() == wire.KindStatus && !ch.local {
		s.t.Release(f)
		return violation("STATUS on channel %d that the peer opened", d.Channel())
	}
	return ch.onFrame(f)
}

// admitFrame checks what every frame must satisfy before it is routed
// (its kind, the PACKED flag, its channel, the peer's link credit) and
// takes a message-bearing frame's cost from that credit. A status means
// the frame breaks the protocol; the caller releases it.
func (s *Session) admitFrame(f *transport.Frame) *plexus.Status {
	d := &f.Desc
	kind, flags, id := d.Kind(), d.Flags(), d.Channel()
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
		if s.regranted.Load() != 0 {
			s.linkRemaining += s.regranted.Swap(0)
		}
		if s.linkRemaining <= 0 {
			return violation("link flow-control window exceeded")
		}
		cost := wire.FrameCost(len(f.Payload))
		s.linkRemaining -= cost
		if kind != wire.KindNotify && kind != wire.KindOpen {
			s.consumeLink(cost)
		}
	}
	if !channelAllowed(kind, id) {
		return violation("frame kind %d on channel %d", kind, id)
	}
	return nil
}

// onLinkFrame handles PING, PONG and GOAWAY (channel 0).
func (s *Session) onLinkFrame(f *transport.Frame) {
	d := &f.Desc
	switch d.Kind() {
	case wire.KindPing:
		s.ctl.push(ctlFrame{kind: wire.KindPong, aux: d.Aux()})
	case wire.KindGoAway:
		s.onGoAway(d.Aux(), string(f.Payload))
	}
	s.t.Release(f)
}

// onCredit adds a CREDIT's grant to the link's or a channel's window.
func (s *Session) onCredit(f *transport.Frame) *plexus.Status {
	id, n := f.Desc.Channel(), int64(f.Desc.Credit())
	s.t.Release(f)
	if id == 0 {
		s.link.add(n)
		return nil
	}
	ch, err := s.lookup(id)
	if ch != nil {
		ch.send.add(n)
	}
	return err
}

// onResetFrame ends a channel the peer reset, or the link (channel 0).
func (s *Session) onResetFrame(f *transport.Frame) *plexus.Status {
	d := &f.Desc
	id, code, reason := d.Channel(), plexus.Code(d.Aux()), string(f.Payload)
	s.t.Release(f)
	if id == 0 {
		return plexus.Errorf(plexus.PeerDied, "peer reset the link: %s: %s", code, reason)
	}
	ch, err := s.lookup(id)
	if ch != nil {
		ch.onReset(plexus.Errorf(code, "%s", reason))
	}
	return err
}

// consumeLink counts a dispatched frame's cost towards the next link
// grant, which goes out once half the window has been dispatched
// (dispatching goroutine).
func (s *Session) consumeLink(cost int64) {
	s.linkConsumed += cost
	if s.linkConsumed >= int64(s.cfg.LinkWindow)/2 {
		s.grantLink()
	}
}

// grantLink sends the link credit consumeLink counted. It is kept out of
// line so that consumeLink, on every frame's path, inlines.
//
//go:noinline
func (s *Session) grantLink() {
	s.linkRemaining += s.linkConsumed
	s.queueCredit(0, s.linkConsumed)
	s.linkConsumed = 0
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
func (s *Session) lookup(id uint64) (*channel, *plexus.Status) {
	s.mu.Lock()
	ch := s.chans[id]
	next, peerMax := s.nextID, s.peerMaxID
	s.mu.Unlock()
	if ch != nil {
		return ch, nil
	}
	if s.ownsID(id) {
		if id >= next {
			return nil, violation("frame for channel %d that this side never opened", id)
		}
	} else if id > peerMax {
		return nil, violation("frame for channel %d before its OPEN", id)
	}
	return nil, nil
}

func (s *Session) ownsID(id uint64) bool {
	return (id&1 == 1) == (s.cfg.Role == Initiator)
}

func (s *Session) removeChannel(ch *channel) {
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

// send transmits a frame with credit: message-bearing frames take from the
// channel window (if ch != nil) and the link window first.
func (s *Session) sendFrame(ctx context.Context, ch *channel, d *wire.Desc, payload []byte, fromAlloc bool) error {
	if d.Kind().CarriesMessage() {
		cost := wire.FrameCost(len(payload))
		if ch != nil {
			if err := ch.send.take(ctx, s.done, cost); err != nil {
				s.freeIf(payload, fromAlloc)
				return err
			}
		}
		if err := s.link.take(ctx, s.done, cost); err != nil {
			if ch != nil {
				ch.send.refund(cost)
			}
			s.freeIf(payload, fromAlloc)
			return err
		}
	}
	if err := s.send(ctx, d, payload); err != nil {
		return s.sendFailed(err)
	}
	return nil
}

func (s *Session) freeIf(b []byte, fromAlloc bool) {
	if fromAlloc && b != nil {
		s.t.Free(b)
	}
}

// sendFailed maps a transport send error: a size error, a wait that
// outlasted the transport's bound or the call's context (nothing was
// sent) is the caller's problem; anything else means the link is gone.
func (s *Session) sendFailed(err error) error {
	var st *plexus.Status
	if errors.As(err, &st) {
		switch st.Code {
		case plexus.ResourceExhausted, plexus.InvalidArgument, plexus.DeadlineExceeded, plexus.Canceled:
			return st
		}
	}
	s.die(classifyRecv(err))
	if e := s.Err(); e != nil {
		return e
	}
	return err
}

// statusFromError converts a handler's error into the status sent back.
func statusFromError(err error) *plexus.Status {
	var st *plexus.Status
	if errors.As(err, &st) {
		return st
	}
	switch plexus.CodeOf(err) {
	case plexus.Canceled:
		return plexus.Errorf(plexus.Canceled, "%v", err)
	case plexus.DeadlineExceeded:
		return plexus.Errorf(plexus.DeadlineExceeded, "%v", err)
	}
	return plexus.Errorf(plexus.Unknown, "%v", err)
}

func ctxStatus(ctx context.Context) *plexus.Status {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return plexus.Errorf(plexus.DeadlineExceeded, "deadline exceeded")
	}
	if c := context.Cause(ctx); c != nil {
		var st *plexus.Status
		if errors.As(c, &st) {
			return st
		}
	}
	return plexus.Errorf(plexus.Canceled, "call canceled")
}

func (s *Session) String() string {
	return fmt.Sprintf("session(%v)", s.cfg.Role)
}
