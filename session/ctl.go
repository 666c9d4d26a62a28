package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// ctlFrame is a frame the reader goroutine wants sent. The reader never
// sends itself: if both ends' readers blocked on a full transport, neither
// would drain its side and the link would deadlock.
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

type ctlQueue struct {
	pushes atomic.Uint64 // frames pushed so far (see pollReceiver.pollRead)
	mu     sync.Mutex
	frames []ctlFrame
	spare  []ctlFrame
	signal chan struct{}
	over   bool
}

func (q *ctlQueue) init() { q.signal = make(chan struct{}, 1) }

func (q *ctlQueue) push(f ctlFrame) {
	q.pushes.Add(1)
	q.mu.Lock()
	if len(q.frames) >= maxCtlQueue {
		q.over = true
	} else {
		q.frames = append(q.frames, f)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// overflowed reports whether frames were dropped for the queue's bound.
func (q *ctlQueue) overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.over
}

func (q *ctlQueue) take() ([]ctlFrame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	fs := q.frames
	q.frames = q.spare[:0]
	q.spare = fs
	return fs, q.over
}

func (s *Session) writeLoop() {
	var d wire.Desc
	for {
		select {
		case <-s.done:
			return
		case <-s.ctl.signal:
		}
		fs, over := s.ctl.take()
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
			if !s.sendCtl(&d, f.payload) {
				return
			}
			*f = ctlFrame{}
		}
	}
}

// sendCtl sends one control frame for the writer, and reports false once
// the session has ended. A frame the transport refused for now (its ring
// stayed full for the transport's wait bound: a peer that paused, or
// stopped reading) is sent again until it goes or the session ends: the
// writer must not quit and leave the session half alive, with no credit,
// pong or reset ever sent again. A peer that never reads again is ended
// by keepalive (it answers no ping) or, if it floods frames that queue
// answers, by the queue's bound.
func (s *Session) sendCtl(d *wire.Desc, payload []byte) bool {
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
		if s.ctl.overflowed() {
			s.die(violation("peer does not read its control frames"))
			return false
		}
		s.log.Debug("control frame waits for ring space", "error", err)
		time.Sleep(time.Millisecond) // a transport that refuses at once must not make this spin
	}
}

// flush waits until the writer has sent everything queued before it, the
// session ends, or ctx is done.
func (q *ctlQueue) flush(ctx context.Context, done <-chan struct{}) error {
	m := make(chan struct{})
	q.push(ctlFrame{flushed: m})
	select {
	case <-m:
		return nil
	case <-done:
		return nil
	case <-ctx.Done():
		return ctxStatus(ctx)
	}
}

func (s *Session) queueCredit(channel uint64, n int64) {
	for n > 0 {
		c := min(n, 1<<31)
		s.ctl.push(ctlFrame{kind: wire.KindCredit, channel: channel, credit: uint32(c)})
		n -= c
	}
}

func (s *Session) queueReset(channel uint64, code plexus.Code, reason string) {
	s.ctl.push(ctlFrame{kind: wire.KindReset, channel: channel, aux: uint64(code), payload: []byte(reason)})
}
