package session

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
)

// Side is which end of a call an interceptor sees.
type Side uint8

const (
	// Calling is the side that made the call (Invoke, NewStream, Notify).
	Calling Side = iota + 1
	// Serving is the side whose handler runs it.
	Serving
)

func (s Side) String() string {
	if s == Serving {
		return "serving"
	}
	return "calling"
}

// CallInfo describes a call to interceptors. It is shared by every
// interceptor of the call and must not be changed.
type CallInfo struct {
	// Method is the method ID; Name is "service.method" when this side
	// knows it (the serving side from its Mux, the calling side from
	// Config.Peer), else "".
	Method uint64
	Name   string
	// Kind is the method's shape: on the serving side its handler's (a
	// stream handler's exact shape when the Mux has its description), on
	// the calling side the description's in Config.Peer, or Unary,
	// BidiStream or Notification after the call made (Invoke, NewStream,
	// Notify).
	Kind plexus.MethodKind
	Side Side
}

// CallEnd is how a call ended, as its interceptors see it.
type CallEnd struct {
	// Status is the call's final status: nil for OK. On the calling
	// side it is what the caller got (a refusal by an interceptor
	// included); on the serving side what the handler returned (or its
	// refusal), as sent.
	Status *plexus.Status
	// Sent and Received are the payload bytes of the call's frames that
	// this side sent and received: messages, metadata and status bodies,
	// not descriptors.
	Sent, Received int64
}

// Interceptor observes and shapes the calls of a session, on both sides
// and for every call shape (Config.Interceptors). Start runs as the call
// begins: on the calling side before anything is sent, so that metadata
// it adds (plexus.WithMetadata on the context it returns) travels with
// the call; on the serving side before the handler, which gets the
// context it returns (with the incoming metadata in it). A non-nil error
// from Start refuses the call: the caller gets it as its status
// (statusFromError: a *plexus.Status keeps its code, anything else is
// UNKNOWN), and on the serving side the handler does not run. End runs
// once when the call has ended, with the context its own Start returned,
// unless its Start refused the call or did not run. Both run on the
// goroutine of the call (the caller's, the handler's), End on the one
// that ended it, and must be safe for concurrent use by many calls.
//
// Interceptors chain in Config order: the first one's Start runs first
// and its End last, so each wraps those after it; a refusal by one ends
// the Starts, and the Ends of those that had started run, in reverse
// order, with the refusal as the call's status.
type Interceptor interface {
	Start(ctx context.Context, info *CallInfo) (context.Context, error)
	End(ctx context.Context, info *CallInfo, end *CallEnd)
}

// callObs is one call's interceptors: the contexts their Starts returned,
// the byte counts, and the one End. A channel points at it while the call
// runs (channel.obs); without interceptors it does not exist, and the
// call path only looks at that nil pointer.
type callObs struct {
	chain []Interceptor
	info  CallInfo
	ctxs  []context.Context // ctxs[i]: what chain[i].Start returned
	sent  atomic.Int64
	recv  atomic.Int64
	once  sync.Once
}

// startCall starts the interceptors of a call this side makes (kind:
// what the call made says, unless Config.Peer knows better): the context
// the call goes on with and its observation, or a refusal. The session's
// calls come here only when it has interceptors.
func (s *Session) startCall(ctx context.Context, method uint64, kind plexus.MethodKind) (context.Context, *callObs, error) {
	info := CallInfo{Method: method, Kind: kind, Side: Calling}
	if d, ok := s.peer[method]; ok {
		info.Name = d.name
		if d.kind != 0 {
			info.Kind = d.kind
		}
	}
	o := &callObs{chain: s.cfg.Interceptors, info: info}
	ctx, err := o.start(ctx)
	if err != nil {
		return ctx, nil, err
	}
	return ctx, o, nil
}

// serveObs returns the observation of a call or notification of the
// peer's that h serves, nil when the session has no interceptors.
func (s *Session) serveObs(method uint64, h *handler) *callObs {
	if len(s.cfg.Interceptors) == 0 {
		return nil
	}
	kind := methodKindOf(h.kind)
	if h.desc != nil && h.desc.Kind != 0 {
		kind = h.desc.Kind
	}
	return &callObs{chain: s.cfg.Interceptors, info: CallInfo{Method: method, Name: h.name, Kind: kind, Side: Serving}}
}

// start runs the Starts, in order, and returns the context the call goes
// on with, or a Start's refusal (a status), after the Ends of the
// interceptors that had started. Nil-safe: without interceptors it
// returns ctx.
func (o *callObs) start(ctx context.Context) (context.Context, error) {
	if o == nil {
		return ctx, nil
	}
	o.ctxs = make([]context.Context, 0, len(o.chain))
	for _, ic := range o.chain {
		next, err := ic.Start(ctx, &o.info)
		if err != nil {
			st := statusFromError(err)
			o.end(st)
			return ctx, st
		}
		if next != nil {
			ctx = next
		}
		o.ctxs = append(o.ctxs, ctx)
	}
	return ctx, nil
}

// end runs the Ends of the interceptors that started, in reverse order,
// once. err is the call's outcome: nil or io.EOF for OK. Nil-safe, and
// small enough to inline, so that a call without interceptors pays a
// comparison.
func (o *callObs) end(err error) {
	if o != nil {
		o.endOnce(err)
	}
}

func (o *callObs) endOnce(err error) { o.once.Do(func() { o.finish(err) }) }

func (o *callObs) finish(err error) {
	e := CallEnd{Sent: o.sent.Load(), Received: o.recv.Load()}
	if err != nil && err != io.EOF {
		if e.Status = statusFromError(err); e.Status.Code == plexus.OK {
			e.Status = nil
		}
	}
	for i := len(o.ctxs) - 1; i >= 0; i-- {
		o.chain[i].End(o.ctxs[i], &o.info, &e)
	}
}

// countSent and countRecv add a frame's payload to the call's byte
// counts; nil-safe, so that a call without interceptors pays one
// comparison.
func (o *callObs) countSent(n int) {
	if o != nil {
		o.sent.Add(int64(n))
	}
}

func (o *callObs) countRecv(n int) {
	if o != nil {
		o.recv.Add(int64(n))
	}
}

// peerMethod is what Config.Peer says of a method of the peer's.
type peerMethod struct {
	name string
	kind plexus.MethodKind
}

// peerMethods indexes Config.Peer by method ID; nil without interceptors,
// which alone look names up.
func peerMethods(cfg Config) map[uint64]peerMethod {
	if len(cfg.Interceptors) == 0 || len(cfg.Peer) == 0 {
		return nil
	}
	m := map[uint64]peerMethod{}
	for _, d := range cfg.Peer {
		for _, md := range d.Methods {
			id := md.ID
			if id == 0 {
				id = plexus.MethodID(d.Name, md.Name)
			}
			m[id] = peerMethod{name: d.Name + "." + md.Name, kind: md.Kind}
		}
	}
	return m
}
