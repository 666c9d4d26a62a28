// Package session is the RPC layer of plexus: channels, calls and streams
// in both directions over one transport.Transport, with flow control,
// deadlines, cancellation, keepalive, GoAway and drain. It knows nothing of
// shared memory or sockets.
//
// Lifetime: New starts a session over a transport and owns it from then on;
// the session ends when Close or Drain is called, when the peer goes away,
// or when the peer violates the protocol. Done is closed then and Err tells
// why; every call still in flight fails at once with that status (PeerDied
// when the transport reports the peer gone), and every handler's context is
// cancelled. Drain waits for the calls in flight to finish: a handler of a
// call that would otherwise last as long as the link (a subscription, a
// watch) ends it once GoingAway is closed.
//
// Concurrency: a Session is safe for concurrent use; any number of
// goroutines may make calls at the same time, in both directions. A Stream
// may have one goroutine sending and one receiving at the same time. A Mux
// must be fully registered before the session that serves it starts.
//
// Parts: a Session's methods are its API and what its parts share; each
// part is a type of its own, which the session holds as a value: the
// dispatcher (dispatch.go) checks every received frame and routes it to
// its channel or to the server; the server (server.go, with admission.go,
// workers.go and notify.go) runs the peer's calls and notifications; the
// control writer (ctlWriter, ctl.go, with keepalive.go) sends the frames
// the receiving side generates; the channel pool (chanPool, channel.go)
// keeps finished channels for the next calls; the routing table
// (chanTable, chantable.go) finds open channels by ID under the session's
// lock; and the receiver (receiver.go) takes frames off the transport.
//
// Receiving: who takes frames off the transport, and how a goroutine
// waiting for its channel gets what it waits for, is decided by one
// receiver per session (receiver.go), chosen by the transport; the
// protocol code (the dispatcher, channels, calls) asks it only to wait for a
// channel's next frame (await) and to run a call of the peer's (run).
//
// Goroutines: on a socket or in-process transport (loopReceiver,
// loop_receiver.go), one reader per session (it never blocks on
// application code or on the transport's send side), and incoming calls
// run on worker goroutines: one per call while its handler runs, of which
// up to 64 stay idle afterwards, waiting for the next call, until the
// session ends (see workers.go). At most Config.MaxPeerCalls handlers run
// at once; later calls wait without a goroutine, holding their
// flow-control credit (see admission.go). On a
// transport that can be polled (transport.Poller: shared memory;
// pollReceiver, poll_receiver.go) there is no dedicated reader: a caller
// waiting for its response receives for itself for a polling budget, and
// a small set of reader goroutines covers the rest, one of them asleep on
// the doorbell; a reader that receives a call with nothing behind it, or
// a call of a cheap handler (inline.go), runs the handler itself after
// making sure another reader remains, and hands it to a worker otherwise. In both cases there is one writer for frames
// the receiving side generates (the control writer), one keepalive
// timer, up to four goroutines that each watch a context shared by
// callers blocked at once and wake them at its end, until it ends or the
// session does (ctxwatch.go), and one goroutine that runs notification handlers one at a
// time, in arrival order, while any are pending (so a notification
// handler that blocks delays the notifications after it; beyond
// Config.MaxQueuedNotifications queued, their credit waits for the
// handler, which slows the peer). A handler's deadline needs no timer of
// its own: the session's one deadline timer (callctx.go, armed on the
// timer goroutine of the runtime) ends the contexts of the calls whose
// deadlines pass.
//
// The caller's side of a unary call (Invoke) is kept short, as a path of
// functions entered (go run ./internal/tools/callpath measures it): small
// payloads are encoded into the channel (a scratch the transport copies
// into the descriptor) instead of transport memory, and the helpers every
// call passes through (send, alloc, the open lock, link credit, the link
// accounting of a received frame) are small enough to inline, their rare
// cases out of line.
//
// Channels: each call is a channel, whose state on each side (SPEC.md
// "Channel states") is a set of facts moved by one transition function,
// for every frame received and every local step (channel_state.go;
// channel_state.dot draws the machine). A frame for a channel this side
// has closed is ignored; one after the peer ended its side is a protocol
// violation, which ends the link.
//
// Interceptors (Config.Interceptors, interceptor.go): a Start when each
// call begins, on the calling side before anything is sent (metadata it
// adds travels with the call) and on the serving side before the
// handler; an End once it has ended, with its status and the payload
// bytes each way. They run on the call's own goroutines and must be safe
// for concurrent use. A session without interceptors pays one comparison
// per call for them and allocates nothing.
//
// Leases: Session.Alloc returns link memory (a *Lease) that is sent
// without a copy when passed as a whole message; a *Lease given as the
// response of Invoke or Stream.Recv is a view of the received bytes until
// its Release. A unary handler's request is likewise a view, valid until
// the handler returns.
package session
