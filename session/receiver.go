package session

import (
	"context"

	"github.com/plexus-ipc/plexus/transport"
)

// receiver is how a session takes frames off its transport. The protocol
// (dispatch, channels, calls) does not care who receives, only that every
// frame is dispatched once, in order, by one goroutine at a time, and that
// a goroutine waiting for its channel is woken when the channel changes;
// how that is done depends on the transport, and is decided here alone:
//
//   - loopReceiver (loop_receiver.go), for transports that can only block
//     in Recv (sockets, the in-process pipe): one goroutine receives, and
//     everyone else waits for it to signal their channel.
//   - pollReceiver (poll_receiver.go), for a transport.Poller (shared
//     memory): whoever waits for a frame receives, under a token, and
//     reader goroutines cover the time when nobody waits; a hand-off from
//     a reader goroutine would cost more than the round trip.
//
// The calls into the receiver are one per wait (await) and one per call
// the peer opens (run), so an interface call costs nothing measurable;
// the polling itself calls the transport directly.
type receiver interface {
	// start starts the goroutines that receive when nobody else does.
	// New calls it once, before the session is used.
	start()
	// await waits until ch is signalled (something changed for its
	// receiver) and reports true, or false if ctx ended first. The
	// caller then looks at ch again: a signal may be stale, and a true
	// after the session failed means ch has its final status.
	await(ch *channel, ctx context.Context) bool
	// run runs an admitted call of the peer's (dispatching goroutine):
	// on a worker, or on the receiving goroutine once it stops
	// receiving, if the receiver decides so.
	run(j serveJob)
	// blocking is called by a goroutine about to wait for credit from
	// the peer: the credit comes in a frame that someone must receive,
	// and the goroutine may be the one that would (a handler run on the
	// receiving goroutine, which waits for its own window).
	blocking()
}

// newReceiver picks the receiver for s's transport.
func newReceiver(s *Session) receiver {
	if p, ok := s.t.(transport.Poller); ok {
		return newPollReceiver(s, p)
	}
	return &loopReceiver{s: s}
}
