package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// ctlFrame is a frame the reader goroutine wants sent. The reader never
// waits to send: if both ends' readers blocked on a full transport, neither
// would drain its side and the link would deadlock. (It sends link credit
// itself only where the transport can do so without waiting: grantLink.)
type ctlFrame struct {
	flushed chan struct{} // a marker, not a frame: closed when the writer reaches it
	kind    wire.Kind
	channel uint64
	aux     uint64
	credit  uint32
	flags   uint8
	payload []byte
}

// maxCtlQueue bounds the frames a peer can make us queue (by PINGing, say)
// without reading our answers.
const maxCtlQueue = 1 << 16

// ctlWriter is the control writer: it queues the frames the receiving
// side generates (credit, PONG, RESET, GOAWAY) and sends them from a
// goroutine of its own (writeLoop), so that nothing that receives ever
// waits for the transport's send side.
type ctlWriter struct {
	s      *Session
	pushes atomic.Uint64 // frames pushed so far (see pollReceiver.pollRead)
	mu     sync.Mutex
	frames []ctlFrame
	spare  []ctlFrame
	signal chan struct{}
	over   bool
}

func (w *ctlWriter) init(s *Session) {
	w.s = s
	w.signal = make(chan struct{}, 1)
}

func (w *ctlWriter) push(f ctlFrame) {
	w.pushes.Add(1)
	w.mu.Lock()
	if len(w.frames) >= maxCtlQueue {
		w.over = true
	} else {
		w.frames = append(w.frames, f)
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// overflowed reports whether frames were dropped for the queue's bound.
func (w *ctlWriter) overflowed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over
}

func (w *ctlWriter) take() ([]ctlFrame, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fs := w.frames
	w.frames = w.spare[:0]
	w.spare = fs
	return fs, w.over
}

// writeLoop is the writer's goroutine: it sends what is queued, in order,
// until the session ends.
func (w *ctlWriter) writeLoop() {
	s := w.s
	var d wire.Desc
	for {
		select {
		case <-s.done:
			return
		case <-w.signal:
		}
		fs, over := w.take()
		if over {
			s.die(violation("peer does not read its control frames"))
			return
		}
		for i := range fs {
			f := &fs[i]
			if f.flushed != nil {
				close(f.flushed)
				*f = ctlFrame{}
				continue
			}
			newDesc(&d, f.kind, f.channel, f.flags)
			d.SetAux(f.aux)
			d.SetCredit(f.credit)
			if !w.send(&d, f.payload) {
				return
			}
			*f = ctlFrame{}
		}
	}
}

// send sends one control frame for writeLoop, and reports false once
// the session has ended. A frame the transport refused for now (its ring
// stayed full for the transport's wait bound: a peer that paused, or
// stopped reading) is sent again until it goes or the session ends: the
// writer must not quit and leave the session half alive, with no credit,
// pong or reset ever sent again. A peer that never reads again is ended
// by keepalive (it answers no ping) or, if it floods frames that queue
// answers, by the queue's bound.
func (w *ctlWriter) send(d *wire.Desc, payload []byte) bool {
	s := w.s
	for {
		err := s.t.Send(d, payload)
		if err == nil {
			return true
		}
		var st *plexus.Status
		if !errors.As(err, &st) || st.Code != plexus.ResourceExhausted || s.ended() {
			s.sendFailed(err)
			return false
		}
		if w.overflowed() {
			s.die(violation("peer does not read its control frames"))
			return false
		}
		s.log.Debug("control frame waits for ring space", "error", err)
		time.Sleep(time.Millisecond) // a transport that refuses at once must not make this spin
	}
}

// flush waits until the writer has sent everything queued before it, the
// session ends, or ctx is done.
func (w *ctlWriter) flush(ctx context.Context, done <-chan struct{}) error {
	m := make(chan struct{})
	w.push(ctlFrame{flushed: m})
	select {
	case <-m:
		return nil
	case <-done:
		return nil
	case <-ctx.Done():
		return ctxStatus(ctx)
	}
}

// queueCredit queues a grant of n to the peer's window on channel (0: the
// link), in as many CREDIT frames as its 32-bit field needs.
func (w *ctlWriter) queueCredit(channel uint64, n int64) {
	for n > 0 {
		c := min(n, 1<<31)
		w.push(ctlFrame{kind: wire.KindCredit, channel: channel, credit: uint32(c)})
		n -= c
	}
}

// grantLink grants n to the peer's link window: from the calling
// goroutine if the transport can send it without waiting
// (transport.TrySender), else through the writer. Link credit only adds
// to the peer's window, so a grant that overtakes frames still queued for
// the writer changes nothing they mean.
func (w *ctlWriter) grantLink(n int64) {
	if ts, ok := w.s.t.(transport.TrySender); ok && n > 0 && n <= 1<<31 {
		var d wire.Desc
		newDesc(&d, wire.KindCredit, 0, 0)
		d.SetCredit(uint32(n))
		if sent, err := ts.TrySend(&d); sent && err == nil {
			return
		}
		// A full ring, or a link going down: the writer sends it, or
		// reports what ended the link.
	}
	w.queueCredit(0, n)
}

// queueReset queues a RESET of channel with code and reason.
func (w *ctlWriter) queueReset(channel uint64, code plexus.Code, reason string) {
	w.push(ctlFrame{kind: wire.KindReset, channel: channel, aux: uint64(code), payload: []byte(reason)})
}
