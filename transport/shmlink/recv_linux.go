package shmlink

import (
	"runtime"
	"time"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// The receiving side of the Transport. TryRecv is the one receive path:
// it takes a batch of descriptors off the ring when the last is used up,
// and delivers the next one. Recv is TryRecv plus a wait on the data
// doorbell. The session polls TryRecv from whichever of its goroutines
// waits for a frame (transport.Poller: one at a time), while at most one
// other sleeps on the doorbell in Wait for when nobody polls.

var _ transport.Poller = (*Transport)(nil)

// Recv returns the next frame, waiting for it. Frames the peer sent before
// it went away are delivered first; then Recv reports ErrPeerDied. A slot
// payload is a view into the peer's pool and an inline one is copied into
// transport memory; both stay valid until Release, even after Close.
func (t *Transport) Recv(f *transport.Frame) error {
	defer t.stopPolling()
	for {
		if ok, err := t.TryRecv(f); ok || err != nil {
			return err
		}
		if err := t.awaitData(); err != nil {
			return err
		}
	}
}

// awaitData waits (spinning, then on the data doorbell) for descriptors,
// and takes them as the next batch. It returns nil when TryRecv should
// look again: a batch came, an idle minute ended, or Close or the peer's
// death closed the doorbell after setting the state, which TryRecv then
// reports (after the frames the peer sent before it died).
func (t *Transport) awaitData() error {
	if !t.state.acquire() {
		return errLinkClosed
	}
	defer t.state.unref()
	if t.held.Load() > 0 {
		yield()
	}
	n, err := t.ep.Recv(t.batch[:], idleWait)
	if n > 0 {
		// Taken even if ringing the peer's space doorbell then failed:
		// a broken space doorbell only keeps the peer's own senders
		// from being woken; TryRecv reports it on its next batch.
		t.bpos, t.bn = 0, n
		return nil
	}
	if err == nil || err == shm.ErrTimeout || (err == shm.ErrClosed && t.state.err() != nil) {
		return nil
	}
	return t.errs.segErr(err, "receive")
}

// TryRecv delivers the next frame if one is there (ok), without waiting.
// It also withdraws Arm: whoever calls it is polling. The link's state is
// looked at before every descriptor, so that nothing is delivered after
// Close or a violation (nothing after one is trusted), while the peer's
// death still lets the ring be drained; then it reports the death.
//
// It takes a batch of descriptors off the ring when the last is used up,
// validates the next, and fills f. An inline payload, the common case, is
// checked and copied here (the inline bytes live in the batch, which the
// next batch overwrites, and the frame may outlive it); slots and blobs
// are resolved by payloadOf.
func (t *Transport) TryRecv(f *transport.Frame) (ok bool, err error) {
	f.Payload = nil
	if !t.polling {
		// Polling starts: nobody arms the link until it stops (Arm is
		// the poller's), so one Disarm is enough.
		if !t.state.acquire() {
			return false, errLinkClosed
		}
		t.polling = true
		t.ep.Disarm()
	}
	if t.bpos == t.bn {
		n, err := t.ep.TryRecv(t.batch[:])
		if err != nil {
			if n, err = t.errs.ringErr(n, err); err != nil {
				return false, err
			}
		}
		if n == 0 {
			if n, err = t.afterEmpty(); n == 0 {
				return false, err // drained: the death, if it came
			}
		}
		t.bpos, t.bn = 0, n
	}
	if err := t.state.recvErr(); err != nil {
		return false, err
	}
	d := &t.batch[t.bpos]
	t.bpos++
	var payload []byte
	if plainInline(d) {
		if n := int(d.Length()); n > 0 {
			if payload = t.cells.tryGet(n); payload == nil {
				payload = t.cells.get(n)
			}
			copy(payload, d.Inline())
		}
	} else if payload, err = t.payloadOf(d); err != nil {
		return false, err
	}
	if len(payload) > 0 {
		t.held.Add(1)
	}
	f.Desc = *d
	f.Desc.SetFlags(d.Flags() &^ wire.TransportFlags)
	clear(f.Desc[wire.InlineOffset:])
	f.Desc.SetLength(uint32(len(payload)))
	f.Payload = payload
	return true, nil
}

// afterEmpty is TryRecv's look at the link once the ring was found
// empty: the link's error, if any (the peer's death once the ring is
// drained), after reading the ring again.
//
// The peer pushes its last frames (a GOAWAY, the responses of calls it
// served) and then closes, and its death is recorded only after the
// close is seen, so a ring found empty before the death was recorded may
// have been filled since; read only once, those frames would be lost and
// a graceful close taken for a death.
func (t *Transport) afterEmpty() (int, error) {
	if testHookEmptyRing != nil {
		testHookEmptyRing()
	}
	dead := t.state.err()
	if dead == nil {
		return 0, nil
	}
	if n, err := t.readRing(); n > 0 || err != nil {
		return n, err
	}
	return 0, dead
}

// readRing takes what the ring holds into t.batch, without waiting.
func (t *Transport) readRing() (int, error) {
	n, err := t.ep.TryRecv(t.batch[:])
	if err != nil {
		return t.errs.ringErr(n, err)
	}
	return n, nil
}

// testHookEmptyRing, set only by tests, runs between a read that found
// the ring empty and the look at the link's state (see afterEmpty).
var testHookEmptyRing func()

// plainInline reports whether d is a well-formed inline descriptor: the
// inline flag alone of the payload flags, no reserved bit, a length that
// fits.
func plainInline(d *wire.Desc) bool {
	return d.Flags()&(wire.FlagInline|wire.FlagSlot|wire.FlagBlob) == wire.FlagInline && !d.HasReservedBits() && d.Length() <= wire.InlineMax
}

// payloadOf validates and resolves the payload of a descriptor that is
// not a well-formed inline one: a blob, a slot, no payload, or a bad
// descriptor (a violation).
func (t *Transport) payloadOf(d *wire.Desc) ([]byte, error) {
	if d.Flags()&wire.FlagBlob != 0 {
		return t.blob.recv(d)
	}
	// Resolve checks the reserved bits (2-3 included), the flag
	// combination, the inline length and the slot reference.
	p, err := t.ep.Resolve(d)
	if err != nil {
		return nil, t.errs.segErr(err, "resolve")
	}
	n := len(p)
	if n > t.max {
		return nil, t.errs.violate(violation("frame of %d bytes exceeds the %d-byte limit", n, t.max))
	}
	switch {
	case d.Flags()&wire.FlagSlot == 0:
		return nil, nil // no payload (an inline one came through TryRecv)
	case n == 0:
		// Nothing to hold on to: give the slot back now.
		if err := t.ep.Release(d); err != nil {
			return nil, t.errs.segErr(err, "release")
		}
		return nil, nil
	}
	if !t.peerHeld[d.Slot()].CompareAndSwap(0, d.Gen()) {
		return nil, t.errs.violate(violation("slot %d sent again while this side holds it", d.Slot()))
	}
	t.state.refs.Add(1) // the frame's; the poller holds one, so the segment is mapped
	return p, nil
}

// Release gives a received frame's payload back: it frees the peer's slot
// (waking the peer if it waits for one), unmaps a blob, or recycles the
// inline copy. It is safe on a frame whose Recv failed, after Close, and a
// second Release of the same Frame does nothing.
func (t *Transport) Release(f *transport.Frame) {
	p := f.Payload
	f.Payload = nil
	if cap(p) == 0 {
		return
	}
	// Once torn down no slot frame is outstanding (each holds a
	// reference), and the segment's addresses may since have been reused.
	// Anything else (an inline copy, a blob) is not in the peer's pool.
	if !t.torn.Load() && t.peer.Contains(p) {
		t.releaseSlot(p)
		return
	}
	if i, ok := t.cells.index(p); ok {
		if t.cells.put(i) {
			t.held.Add(-1)
		}
		return
	}
	if t.cells.more.put(p) || (t.blob.nout.Load() > 0 && t.blob.release(p)) {
		t.held.Add(-1)
	}
}

// releaseSlot frees the peer's slot that p points into, once.
func (t *Transport) releaseSlot(p []byte) {
	idx, _, _, ok := t.peer.SlotAt(p)
	if !ok {
		return
	}
	gen := t.peerHeld[idx].Swap(0)
	if gen == 0 {
		return // released already
	}
	t.held.Add(-1)
	var d wire.Desc
	d.SetSlotRef(idx, gen, 0, 0)
	if err := t.ep.Release(&d); err != nil {
		_ = t.errs.segErr(err, "release")
	}
	t.state.unref()
}

// yield lets other goroutines of this P run before Recv parks. The park is
// a blocking ppoll(2) that keeps the P (in its syscall state) until the
// runtime's monitor takes it away, tens of microseconds to milliseconds
// later; a goroutine that the caller of Recv made runnable by handing it a
// frame (the session's reader waking a call or a handler) would wait that
// long. runtime.Gosched runs it now. It is not free (it wakes an idle P,
// which on two cores takes the CPU the peer process wants: measured +7 us
// on a parked ping-pong), so Recv yields only when a frame it delivered is
// still held, the sign that such a hand-off happened.
func yield() { runtime.Gosched() }

// stopPolling drops the reference TryRecv took for polling, if held.
func (t *Transport) stopPolling() {
	if t.polling {
		t.polling = false
		t.state.unref()
	}
}

// Arm announces that nobody polls; see transport.Poller. The poller's
// reference (see TryRecv) covers the look at the ring and goes with it;
// an Arm without polling first takes one of its own, and a closed link
// reports nothing pending (its doorbell is closed: nobody sleeps on it).
func (t *Transport) Arm() bool {
	if !t.polling && !t.state.acquire() {
		return false
	}
	t.polling = false
	pending := t.bpos < t.bn || t.ep.Arm()
	t.state.unref()
	return pending
}

// Pending reports whether descriptors wait in the ring.
func (t *Transport) Pending() bool {
	if !t.state.acquire() {
		return false
	}
	pending := t.ep.Pending()
	t.state.unref()
	return pending
}

// Disarm withdraws Arm.
func (t *Transport) Disarm() {
	if t.state.acquire() {
		t.ep.Disarm()
		t.state.unref()
	}
}

// Wait sleeps on the data doorbell; see transport.Poller.
func (t *Transport) Wait(timeout time.Duration) error {
	if !t.state.acquire() {
		return errLinkClosed
	}
	defer t.state.unref()
	if err := t.state.err(); err != nil {
		return err
	}
	switch err := t.ep.Wait(timeout); err {
	case nil, shm.ErrTimeout:
		return nil
	default:
		return t.errs.segErr(err, "doorbell")
	}
}

// Wake rings this side's own doorbell.
func (t *Transport) Wake() { _ = t.ep.Wake() }

// SpinBudget is the segment's polling budget (shm.Config.Spin).
func (t *Transport) SpinBudget() time.Duration { return t.ep.Spin() }

// Rang counts the sends that rang the peer's doorbell (transport.Ringer).
func (t *Transport) Rang() uint64 { return t.ep.Rang() }
