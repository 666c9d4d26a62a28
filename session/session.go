package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Session is one end of a link: it makes calls to the peer and serves the
// peer's calls, over one transport.
type Session struct {
	t  transport.Transport
	cs transport.ContextSender // t, or plainSender{t} if its sends cannot wait (see send)
	// ringer is t if its sends ring a parked peer's doorbell (shared
	// memory), else nil: a caller whose send rang waits differently (see
	// pollCall).
	ringer transport.Ringer
	cfg    Config
	mux    *Mux
	log    hclog.Logger

	ctx    context.Context // parent of every handler context; cancelled at the end
	cancel context.CancelCauseFunc
	done   chan struct{}

	openMu ctxMutex // held from ID allocation to the OPEN's send, so IDs reach the peer in order

	mu          sync.Mutex
	chans       chanTable // open channels: the dispatcher's routing table
	nextID      uint64    // next ID this side opens
	peerMaxID   uint64    // highest ID the peer opened
	goAwaySent  bool
	goingAway   chan struct{} // closed with goAwaySent (GoingAway)
	goAwayLimit uint64        // peer IDs above this are refused
	goAwayRecv  bool
	peerLimit   uint64 // our IDs above this will not be served
	draining    bool
	drained     chan struct{} // closed when draining and no channel is left
	err         *plexus.Status
	// openRefused is set, under mu, with err, draining or goAwayRecv:
	// once it is, open looks at them under mu before it encodes.
	openRefused atomic.Bool

	link *credit // link-level send window

	// The session's parts, each a type with its own methods, so that the
	// Session's own are its API and what every part shares. Values, not
	// pointers: reaching a part from the session costs no load on a
	// call's path. Each holds the session for what the parts share.
	pool chanPool   // finished channels kept for the next calls (channel.go)
	disp dispatcher // checks and routes received frames (dispatch.go)
	srv  server     // runs the peer's calls and notifications (server.go)
	ctl  ctlWriter  // sends the frames the receiving side generates (ctl.go)

	deadlines deadlines // of the peer's calls being served (callctx.go)
	watch     ctxWatch  // contexts that blocked callers share (ctxwatch.go)

	rx       receiver      // who receives, and how (see receiver)
	blocking func()        // rx.blocking, made once (see credit.take)
	rxFrames atomic.Uint64 // frames received, for idle detection

	peer map[uint64]peerMethod // Config.Peer by method ID, for interceptors
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
		done:      make(chan struct{}),
		goingAway: make(chan struct{}),
		link:      newCredit(DefaultLinkWindow),
		peer:      peerMethods(cfg),
	}
	s.pool.s, s.disp.s, s.srv.s, s.watch.s = s, s, s, s
	s.chans.init()
	s.srv.jobs = make(chan serveJob)
	s.disp.linkRemaining = int64(cfg.LinkWindow)
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
	s.ctl.init(s)
	s.openMu.init()
	if extra := cfg.LinkWindow - DefaultLinkWindow; extra > 0 {
		s.ctl.queueCredit(0, int64(extra))
	}
	if rg, ok := t.(transport.Ringer); ok {
		s.ringer = rg
	}
	s.rx = newReceiver(s)
	s.blocking = s.rx.blocking
	go s.ctl.writeLoop()
	if cfg.KeepaliveIdle > 0 {
		go s.ctl.keepalive()
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
	s.openRefused.Store(true)
	s.pool.dying.Store(true)
	goneAway := s.goAwayRecv
	chans := s.chans
	s.chans = chanTable{}
	s.mu.Unlock()

	// The session is over for everyone who looks (Done: a host then
	// waits for the plugin's restart instead of calling this session),
	// and senders waiting for credit give up.
	s.link.close(st)
	close(s.done)
	// This side's callers next, and let them run: they send nothing
	// more (s.err refuses new calls, and their channels' send windows
	// close with st), and the transport's Close can take a third of a
	// millisecond (a shared-memory link unmaps its segment and, the peer
	// gone, frees its pages), which a caller waiting for the death of
	// the plugin it called should not wait behind.
	var served []*channel
	for _, ch := range chans.all() {
		if ch.local {
			ch.fail(st, evLinkDied)
		} else {
			served = append(served, ch)
		}
	}
	if len(served) < chans.len() {
		runtime.Gosched()
	}
	// Then close the transport, before the handlers are cancelled: a
	// handler woken by the cancellation would otherwise race to send its
	// final STATUS (CANCELED, say) before the link goes down, and the
	// peer's call would fail with that status instead of PEER_DIED.
	_ = s.t.Close()
	s.cancel(st)
	for _, ch := range served {
		ch.fail(st, evLinkDied)
	}
	s.deadlines.close()
	if st.Code == plexus.ProtocolViolation {
		// Found here or by the transport (a bad descriptor, doorbell,
		// or control message): either way the peer broke the link.
		s.log.Warn("protocol violation; closing link", "error", st)
		return
	}
	if goneAway && st.Code == plexus.PeerDied {
		// The peer said it was going away, then closed: the end of a
		// graceful close (a host's Close, for a plugin), not a death.
		s.log.Debug("session ended: the peer closed the link after its GOAWAY")
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

// send transmits a frame with credit: message-bearing frames take from the
// channel window (if ch != nil) and the link window first.
func (s *Session) sendFrame(ctx context.Context, ch *channel, d *wire.Desc, payload []byte, fromAlloc bool) error {
	if d.Kind().CarriesMessage() {
		cost := wire.FrameCost(len(payload))
		if ch != nil {
			if err := ch.send.take(ctx, s.done, cost, s.blocking); err != nil {
				s.freeIf(payload, fromAlloc)
				return err
			}
		}
		if err := s.link.take(ctx, s.done, cost, s.blocking); err != nil {
			if ch != nil {
				ch.send.refund(cost)
			}
			s.freeIf(payload, fromAlloc)
			return err
		}
	}
	if ch != nil {
		ch.obs.countSent(len(payload))
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
//
// A link found gone by a send may still hold frames the peer sent before
// it went, unread: its GOAWAY, the responses of calls it served. The
// receiving side reads them and then finds the link's end itself, and
// the session's status is then the one those frames make (a peer that
// went away after its GOAWAY closed gracefully; the calls it refused were
// not sent). So the session is ended here only if the receiving side has
// not ended it within recvDrainWait. (A drain right after the start lost
// its GOAWAY to the peer's start-up CREDIT in about one round in four.)
func (s *Session) sendFailed(err error) error {
	var st *plexus.Status
	if errors.As(err, &st) {
		switch st.Code {
		case plexus.ResourceExhausted, plexus.InvalidArgument, plexus.DeadlineExceeded, plexus.Canceled:
			return st
		}
	}
	s.awaitRecvEnd()
	s.die(classifyRecv(err))
	if e := s.Err(); e != nil {
		return e
	}
	return err
}

// recvDrainWait bounds how long a send that found the link gone waits
// for the receiving side to read what the peer sent before and end the
// session (see sendFailed). Reading what is queued takes microseconds;
// the bound is for a transport whose receiving half stays open.
const recvDrainWait = 100 * time.Millisecond

// awaitRecvEnd waits for the session to end, within recvDrainWait. The
// caller may be the goroutine that would receive (a handler run on a
// polling reader), so another is made sure of first.
func (s *Session) awaitRecvEnd() {
	if s.ended() {
		return
	}
	s.blocking()
	t := time.NewTimer(recvDrainWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	}
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
