package session

import (
	"context"
	"runtime/debug"
	"sync"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// noteQueue holds received notifications until their handlers run. One
// goroutine at a time runs them, in arrival order, so that notifications
// from one sender are handled in the order they were sent; it exists only
// while the queue is not empty.
type noteQueue struct {
	mu      sync.Mutex
	queue   []pendingNote
	running bool // a runNotes goroutine owns the queue
}

type pendingNote struct {
	h   *handler
	ctx context.Context
	msg []byte
	f   transport.Frame
	// debt is the link credit withheld for this notification (see
	// onNotify), given back once its handler has run.
	debt int64
}

// onNotify queues a notification for its handler (reader goroutine hands
// off to runNotes). cost is its flow-control cost, which it gives back to
// the link's window now, or, while Config.MaxQueuedNotifications are
// queued already, once the handler has run (see noteDone).
func (sv *server) onNotify(f *transport.Frame, cost int64) *plexus.Status {
	s := sv.s
	d := &f.Desc
	h, why := s.mux.lookup(d.Method())
	if h == nil || h.kind != kindNotifyHandler {
		if h != nil {
			why = h.name + " is a call, not a notification"
		}
		s.log.Warn("dropping notification", "reason", why)
		s.t.Release(f)
		s.disp.consumeLink(cost)
		return nil
	}
	ctx := s.ctx
	msg := f.Payload
	if d.Flags()&wire.FlagMD != 0 {
		md, rest, err := wire.ParseMetadata(msg)
		if err != nil {
			s.t.Release(f)
			return err.(*plexus.Status)
		}
		ctx = plexus.WithIncomingMetadata(ctx, md)
		msg = rest
	}
	sv.handlers.Add(1)
	sv.notes.mu.Lock()
	var debt int64
	if len(sv.notes.queue) >= s.cfg.MaxQueuedNotifications {
		debt = cost
	}
	sv.notes.queue = append(sv.notes.queue, pendingNote{h: h, ctx: ctx, msg: msg, f: *f, debt: debt})
	start := !sv.notes.running
	sv.notes.running = true
	sv.notes.mu.Unlock()
	if start {
		go sv.runNotes()
	}
	if debt == 0 {
		s.disp.consumeLink(cost)
	}
	return nil
}

// runNotes runs the queued notifications, in order, until none is left.
func (sv *server) runNotes() {
	for {
		sv.notes.mu.Lock()
		if len(sv.notes.queue) == 0 {
			sv.notes.queue = nil
			sv.notes.running = false
			sv.notes.mu.Unlock()
			return
		}
		n := sv.notes.queue[0]
		sv.notes.queue[0] = pendingNote{}
		sv.notes.queue = sv.notes.queue[1:]
		sv.notes.mu.Unlock()
		sv.runNote(&n)
	}
}

// runNote runs one notification's handler; a panic in it is logged, and
// the link survives it.
func (sv *server) runNote(n *pendingNote) {
	s := sv.s
	defer sv.handlers.Done()
	defer sv.noteDone(n.debt)
	defer s.t.Release(&n.f)
	sv.hold()
	ctx := n.ctx
	var obs *callObs
	if len(s.cfg.Interceptors) != 0 {
		obs = s.serveObs(n.f.Desc.Method(), n.h)
		obs.countRecv(len(n.f.Payload))
		var err error
		if ctx, err = obs.start(ctx); err != nil {
			return // refused: the handler does not run
		}
	}
	var failed error
	defer func() { obs.end(failed) }()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("notification handler panicked", "method", n.h.name, "panic", r, "stack", string(debug.Stack()))
			failed = plexus.Errorf(plexus.Internal, "notification handler %s panicked: %v", n.h.name, r)
		}
	}()
	n.h.notify(ctx, n.msg)
}

// noteDone gives back the link credit withheld for a notification whose
// handler has run; the last queued notification flushes what is owed (see
// repay).
func (sv *server) noteDone(debt int64) {
	if debt == 0 {
		return
	}
	sv.notes.mu.Lock()
	last := len(sv.notes.queue) == 0
	sv.notes.mu.Unlock()
	sv.repay(debt, last)
}
