package session

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Packed DATA frames. A stream in buffered mode (Stream.Buffer) puts small
// messages one after another into one frame of transport memory instead of
// sending a frame each: the costs of a frame (a slot, a descriptor, flow
// control, the receiver's dispatch and release) are then paid once per
// frame rather than per message, which is what a stream of small messages
// needs to run at millions of messages a second.
//
// The payload of a frame with PACKED set is a sequence of records, each a
// little-endian uint16 length and that many bytes of one message; there is
// at least one record and nothing after the last. DESIGN.md "Packed
// messages" is the specification.

const (
	// packCap is the payload a buffered stream fills before sending: a
	// quarter of the default channel window, so that four packed frames
	// can be in flight before the sender waits for credit.
	packCap = 16 << 10
	// packLimit: larger messages are sent in frames of their own.
	packLimit = 1 << 10
	// packHeader is the size of a record's length.
	packHeader = 2
)

// packRef holds a received packed frame while the receiver's cursor is on
// it or any of its messages is out (each holds a reference); the last
// reference releases the frame. closed says the cursor's own reference has
// been given up.
type packRef struct {
	f      transport.Frame
	refs   atomic.Int32
	closed atomic.Bool
}

// tryRef takes a reference for a message unless the frame is already
// released (the cursor was closed and every message is done).
func (pk *packRef) tryRef() bool {
	for {
		r := pk.refs.Load()
		if r <= 0 {
			return false
		}
		if pk.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// startCursor puts the receiver's cursor on a packed frame taken from the
// queue (receiving goroutine).
func (ch *channel) startCursor(it *item) {
	pk := &packRef{f: it.f}
	pk.refs.Store(1) // the cursor's
	ch.rxRest = it.msg
	ch.rxPk.Store(pk)
}

// fromCursor hands out the next message of the packed frame under the
// receiver's cursor, pk (receiving goroutine). Packed messages are what a
// stream of small messages is made of, so this path takes no lock: the
// message holds a reference to the frame, and the cursor is given up when
// its last record is out, or when this side has finished the call
// (stFinished) or someone closed it.
//
// The records were validated when the frame arrived, but they lie in
// memory the peer can still write (a slot of the segment), so each
// record's length is checked again here, where it is used: a peer that
// rewrote one ends the link with a protocol violation (see badRecord).
//
// The caller loads the cursor (ch.rxPk) and calls this only if there is
// one: most receives find none (every unary call's do), and then enter no
// function for it.
func (ch *channel) fromCursor(pk *packRef) ([]byte, *packRef) {
	if ch.state()&stFinished != 0 || pk.closed.Load() || !pk.tryRef() {
		ch.rxPk.Store(nil)
		ch.rxRest = nil
		ch.closeRef(pk)
		return nil, nil
	}
	msg, rest, ok := nextPacked(ch.rxRest)
	if !ok {
		ch.rxPk.Store(nil)
		ch.rxRest = nil
		ch.unref(pk) // the message's reference, taken above
		ch.closeRef(pk)
		ch.badRecord()
		return nil, nil
	}
	ch.rxRest = rest
	if len(rest) == 0 {
		ch.rxPk.Store(nil)
		ch.closeRef(pk)
	}
	return msg, pk
}

// badRecord ends the link over a packed record that changed after it was
// validated, and fails this channel with the violation even if its final
// status had already arrived: its remaining messages are not trusted.
func (ch *channel) badRecord() {
	st := violation("packed record on channel %d changed after it was validated", ch.id)
	ch.s.disp.dispatchFailed(st)
	ch.mu.Lock()
	ch.step(evBadRecord)
	ch.final = st
	ch.mu.Unlock()
	ch.drop()
}

// closeCursor gives up the cursor's reference, from any goroutine; the
// receiver clears the cursor itself when it next looks.
func (ch *channel) closeCursor() {
	if pk := ch.rxPk.Load(); pk != nil {
		ch.closeRef(pk)
	}
}

func (ch *channel) closeRef(pk *packRef) {
	if pk.closed.CompareAndSwap(false, true) {
		ch.unref(pk)
	}
}

// unref drops a reference to a packed frame, releasing it with the last.
func (ch *channel) unref(pk *packRef) {
	if pk.refs.Add(-1) == 0 {
		it := item{f: pk.f}
		_ = ch.consume(&it, nil)
	}
}

// countPacked validates a packed payload and returns its message count.
func countPacked(p []byte) (int, *plexus.Status) {
	n := 0
	for len(p) > 0 {
		if len(p) < packHeader {
			return 0, violation("packed payload ends inside a record header")
		}
		l := int(binary.LittleEndian.Uint16(p))
		p = p[packHeader:]
		if l > len(p) {
			return 0, violation("packed record of %d bytes with %d left", l, len(p))
		}
		p = p[l:]
		n++
	}
	if n == 0 {
		return 0, violation("packed frame without a message")
	}
	return n, nil
}

// nextPacked splits the first record off a packed payload; ok is false
// if the record does not fit in what is left (see fromCursor).
func nextPacked(p []byte) (msg, rest []byte, ok bool) {
	if len(p) < packHeader {
		return nil, nil, false
	}
	l := int(binary.LittleEndian.Uint16(p))
	if l > len(p)-packHeader {
		return nil, nil, false
	}
	return p[packHeader : packHeader+l], p[packHeader+l:], true
}

// packMsg appends m to the stream's pending packed frame, sending the
// frame first if m does not fit. The caller holds st.packMu.
func (st *Stream) packMsg(m plexus.Marshaler, size int) error {
	s := st.ch.s
	if st.pack != nil && len(st.pack)+packHeader+size > cap(st.pack) {
		if err := st.flushLocked(); err != nil {
			return err
		}
	}
	if st.pack == nil {
		buf, err := s.alloc(st.ctx, packCap)
		if err != nil {
			return err
		}
		// Touch the whole frame now, in one pass: its lines were last
		// in the receiver's cache, and fetching them one message at a
		// time stalls every Send at packMu's unlock (a locked
		// instruction waits for the stores before it), which was most
		// of the sender's time.
		clear(buf[:cap(buf)])
		st.pack = buf[:0]
	}
	start := len(st.pack)
	b, err := m.MarshalMsg(append(st.pack, 0, 0))
	if err != nil {
		st.pack = st.pack[:start]
		return plexus.WithCause(plexus.Internal, err, "encoding message: "+err.Error())
	}
	if l := len(b) - start - packHeader; l > packLimit || &b[0] != &st.pack[:1][0] {
		// The message outgrew its Msgsize: send what is packed, then
		// the message in a frame of its own.
		st.pack = st.pack[:start]
		if err := st.flushLocked(); err != nil {
			return err
		}
		return st.sendOne(m)
	}
	binary.LittleEndian.PutUint16(b[start:], uint16(len(b)-start-packHeader))
	st.pack = b
	return nil
}

// flushLocked sends the pending packed frame, if any. The caller holds
// st.packMu.
func (st *Stream) flushLocked() error {
	p := st.pack
	st.pack = nil
	if len(p) == 0 {
		if p != nil {
			st.ch.s.t.Free(p)
		}
		return nil
	}
	ch := st.ch
	d := &ch.desc
	newDesc(d, wire.KindData, ch.id, wire.FlagMsg|wire.FlagPacked)
	return ch.s.sendFrame(st.ctx, ch, d, p, true)
}

// tryFlush sends the pending packed frame if that needs no waiting for
// flow-control credit. Recv calls it: a Recv that waited for credit could
// deadlock a bidirectional stream whose peer waits, in its own Send, for
// this side to read.
func (st *Stream) tryFlush() {
	if !st.packMu.TryLock() {
		return // a Send is under way; what it leaves buffered waits for Flush
	}
	defer st.packMu.Unlock()
	p := st.pack
	if len(p) == 0 {
		return
	}
	ch := st.ch
	s := ch.s
	cost := wire.FrameCost(len(p))
	if !ch.send.tryTake(cost) {
		return
	}
	if !s.link.tryTake(cost) {
		ch.send.refund(cost)
		return
	}
	st.pack = nil
	d := &ch.desc
	newDesc(d, wire.KindData, ch.id, wire.FlagMsg|wire.FlagPacked)
	if err := s.send(st.ctx, d, p); err != nil {
		_ = s.sendFailed(err)
	}
}

// discardPacked frees a pending packed frame that will not be sent.
func (st *Stream) discardPacked() {
	st.packMu.Lock()
	p := st.pack
	st.pack = nil
	st.packMu.Unlock()
	if p != nil {
		st.ch.s.t.Free(p)
	}
}
