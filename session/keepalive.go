package session

import (
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// keepalive pings only when the link has been silent for KeepaliveIdle:
// a busy link proves the peer alive with its own traffic, and an idle one
// costs one timer wake-up per period, not a poll. Any frame received
// within KeepaliveTimeout of the PING counts as an answer. It is the
// control writer's: its PINGs go out through the writer's queue.
func (w *ctlWriter) keepalive() {
	s := w.s
	idle, timeout := s.cfg.KeepaliveIdle, s.cfg.KeepaliveTimeout
	t := time.NewTimer(idle)
	defer t.Stop()
	last := s.rxFrames.Load()
	var nonce uint64
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if n := s.rxFrames.Load(); n != last {
			last = n
			t.Reset(idle)
			continue
		}
		nonce++
		w.push(ctlFrame{kind: wire.KindPing, aux: nonce})
		t.Reset(timeout)
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if n := s.rxFrames.Load(); n == last {
			s.die(plexus.Errorf(plexus.PeerDied, "peer did not answer a keepalive ping within %v", timeout))
			return
		} else {
			last = n
		}
		t.Reset(idle)
	}
}
