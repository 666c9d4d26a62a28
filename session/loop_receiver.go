package session

import (
	"context"

	"github.com/plexus-ipc/plexus/transport"
)

// loopReceiver is the receiver of a transport that can only block in Recv
// (see receiver): one goroutine per session receives and dispatches, and
// never blocks on application code or on the transport's send side; every
// call of the peer's runs on a worker.
type loopReceiver struct {
	s *Session
}

func (r *loopReceiver) start() { go r.loop() }

// loop is the session's reader goroutine.
func (r *loopReceiver) loop() {
	s := r.s
	var f transport.Frame
	for {
		if err := s.t.Recv(&f); err != nil {
			s.die(classifyRecv(err))
			return
		}
		s.rxFrames.Add(1)
		if err := s.disp.dispatch(&f); err != nil {
			s.disp.dispatchFailed(err)
			return
		}
	}
}

// await blocks on ch: the reader goroutine signals it. (The blocked are
// not counted here, so no context is watched for them: a socket's
// round trip costs far more than the select, see ctxWatch.)
func (r *loopReceiver) await(ch *channel, ctx context.Context) bool {
	return r.s.watch.wait(ch, ctx, false)
}

func (r *loopReceiver) run(j serveJob) { r.s.srv.spawn(j) }

// blocking: the loop always receives, on a goroutine of its own.
func (r *loopReceiver) blocking() {}
