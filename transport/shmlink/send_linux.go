package shmlink

import (
	"context"
	"errors"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/wire"
)

// The sending side of the Transport: a frame's payload goes inline in its
// descriptor, by reference to a slot (one the caller filled through Alloc,
// or one Send copies into), or in a blob (blob_*.go); the descriptor then
// goes into the ring, which rings the peer's doorbell if it parked.

// Send transmits one frame: inline up to 28 bytes, by reference if payload
// is (part of) a buffer from Alloc, otherwise copied once into a slot or,
// above the largest slot, into a sealed memfd. It sets the payload fields
// of d (see the package comment), and waits, within the segment's
// shm.Config.Wait, for ring space and slots; when they do not come it fails
// with ResourceExhausted and nothing is sent. A payload from Alloc belongs
// to the transport afterwards whether Send succeeds or not.
func (t *Transport) Send(d *wire.Desc, payload []byte) error {
	return t.SendContext(context.Background(), d, payload)
}

// SendContext is Send whose waits for ring space and slots end when ctx is
// done, with its status and nothing sent (transport.ContextSender).
//
// The common send, an inline or empty payload in the caller's memory, is
// this one function and the ring's Push. A payload that this transport
// owns (a buffer from Alloc, a blob lease) is claimed first and disposed
// of afterwards as far as the send did not hand it to the peer (owned's
// claim and dispose); one too large to travel inline goes on in
// sendLarge.
func (t *Transport) SendContext(ctx context.Context, d *wire.Desc, payload []byte) error {
	var o owned
	if cap(payload) > 0 && t.mayOwn(payload) {
		o.claim(t, payload)
		defer o.dispose(t)
	}
	n := len(payload)
	if n > t.max {
		return plexus.Errorf(plexus.ResourceExhausted, "shm: payload of %d bytes exceeds the %d-byte frame limit", n, t.max)
	}
	if d.HasReservedBits() {
		return plexus.Errorf(plexus.InvalidArgument, "shm: descriptor has reserved bits set (reserved %#x, flags %#x)", d.Reserved(), d.Flags())
	}
	if !t.state.acquire() {
		return errLinkClosed
	}
	defer t.state.unref()
	if err := t.state.err(); err != nil {
		return err
	}
	d.SetFlags(d.Flags() &^ (wire.FlagInline | wire.FlagSlot))
	clear(d[wire.InlineOffset:])
	d.SetLength(uint32(n))
	var w [1]wire.Desc
	w[0] = *d
	if n > wire.InlineMax {
		return t.sendLarge(ctx, w[:], payload, &o)
	}
	if n > 0 {
		w[0].SetInline(payload)
	}
	sent, err := t.ep.TrySend(w[:])
	if sent == 1 && err == nil {
		return nil
	}
	return t.pushRest(ctx, w[:], sent, err)
}

// TrySend sends d with no payload if the ring has room now, and never
// waits (transport.TrySender). It rings the peer's doorbell as Send does.
func (t *Transport) TrySend(d *wire.Desc) (bool, error) {
	if d.HasReservedBits() {
		return false, plexus.Errorf(plexus.InvalidArgument, "shm: descriptor has reserved bits set (reserved %#x, flags %#x)", d.Reserved(), d.Flags())
	}
	if !t.state.acquire() {
		return false, errLinkClosed
	}
	defer t.state.unref()
	if err := t.state.err(); err != nil {
		return false, err
	}
	var w [1]wire.Desc
	w[0] = *d
	w[0].SetFlags(d.Flags() &^ (wire.FlagInline | wire.FlagSlot))
	clear(w[0][wire.InlineOffset:])
	w[0].SetLength(0)
	sent, err := t.ep.TrySend(w[:])
	if err != nil {
		return false, t.errs.pushed(false, err)
	}
	return sent == 1, nil
}

// mayOwn reports whether p may be memory this transport owns: in its own
// pool, or while small buffers from Alloc or blob leases are out. It
// inlines, and is false for the session's own buffers nearly always.
func (t *Transport) mayOwn(p []byte) bool {
	return t.own.Contains(p) || t.small.out.Load() != 0 || t.blob.nleases.Load() > 0
}

// claim finds what of its own t is given in p (an own slot out with the
// caller, a small buffer from Alloc, a blob lease) and notes it in o,
// taking it back from the caller.
func (o *owned) claim(t *Transport, p []byte) {
	if t.own.Contains(p) {
		o.idx, o.gen, o.off, o.room, o.slot = t.takeOwn(p)
	}
	switch {
	case o.slot:
	case cap(p) <= wire.InlineMax && t.small.isOut(p):
		// A small buffer from Alloc: the payload is copied into the
		// descriptor, so it goes back to its arena after the send.
		o.cell = p
	case t.blob.nleases.Load() > 0:
		o.lease, o.loff = t.blob.findLease(p)
	}
}

// dispose gives back to t what claim found and the send did not hand to
// the peer (which clears it from o).
func (o *owned) dispose(t *Transport) {
	if o.slot {
		t.freeOwn(o.idx, o.gen)
	}
	if o.cell != nil {
		t.small.put(o.cell)
	}
	if o.lease != nil {
		o.lease.discard()
	}
}

// sendLarge sends a payload too large to travel inline, described by
// w[0]: by reference to the own slot or blob lease it is in (handed to
// the peer, and cleared from o), or copied into a slot or a blob. The
// caller holds a reference to the link.
func (t *Transport) sendLarge(ctx context.Context, w []wire.Desc, p []byte, o *owned) error {
	n := len(p)
	switch {
	case o.slot && o.room >= n:
		// (A payload running past its slot cannot be cut from an
		// Alloc'd buffer, whose capacity ends with the slot; it would
		// be copied below, and the slot freed by dispose after the copy.)
		w[0].SetSlotRef(o.idx, o.gen, uint32(o.off), uint32(n))
		if err := t.push(ctx, w); err != nil {
			return err
		}
		// The slot is the peer's now, and with it the reference: the
		// peer's Release frees it, and our count must not wait for that.
		o.slot = false
		t.state.unref()
		return nil
	case o.lease != nil:
		l, off := o.lease, o.loff
		o.lease = nil
		return t.blob.sendLeased(ctx, w, l, off, n)
	case n <= t.ownMax && n <= slotWaitMax:
		return t.sendInSlot(ctx, w, p)
	case n <= t.ownMax:
		// The largest slots are few (two of 1 MiB by default): when none
		// is free, a blob rather than a wait of up to shm.Config.Wait,
		// which would fail the call if the peer holds them (a receiver
		// reading one of its streams while the others' frames wait in
		// slots, each stream within its window).
		s, err := t.ep.TryAlloc(n)
		switch err {
		case nil:
			return t.sendSlot(ctx, w, p, s)
		case shm.ErrNoSlot:
			return t.blob.send(ctx, w, p)
		}
		return t.errs.allocErr(err, n)
	default:
		return t.blob.send(ctx, w, p)
	}
}

// slotWaitMax: a payload up to this size waits for a slot when none is
// free (the default classes hold many of them); a larger one goes as a
// blob instead (see sendLarge).
const slotWaitMax = 64 << 10

// sendInSlot copies p into a slot of this side's pool and publishes it as
// w[0], waiting (within ctx and the segment's bound) for a slot.
func (t *Transport) sendInSlot(ctx context.Context, w []wire.Desc, p []byte) error {
	n := len(p)
	s, err := t.ep.AllocContext(ctx, n)
	if err != nil {
		return t.errs.allocErr(err, n)
	}
	return t.sendSlot(ctx, w, p, s)
}

// sendSlot copies p into the slot s of this side's pool and publishes it
// as w[0]; the slot is freed if that fails.
func (t *Transport) sendSlot(ctx context.Context, w []wire.Desc, p []byte, s shm.Slot) error {
	n := len(p)
	copy(s.Buf, p)
	t.blob.stats.copied.Add(int64(n))
	w[0].SetSlotRef(s.Index, s.Gen, 0, uint32(n))
	if err := t.push(ctx, w); err != nil {
		if ferr := t.ep.FreeOwn(s.Index, s.Gen); ferr != nil {
			_ = t.errs.segErr(ferr, "free")
		}
		return err
	}
	return nil
}

// push publishes w. A descriptor that reached the ring counts as sent
// even if ringing the peer's doorbell then failed: the peer finds it on
// its next look. A doorbell the peer broke (saturated, or made blocking)
// breaks the link all the same.
func (t *Transport) push(ctx context.Context, w []wire.Desc) error {
	sent, err := t.ep.TrySend(w)
	if sent == len(w) && err == nil {
		return nil
	}
	return t.pushRest(ctx, w, sent, err)
}

// pushRest finishes a push of w of which TrySend published sent with err:
// it waits for ring space for the rest (within ctx and the segment's
// bound) if the ring was full, and reports as push does.
func (t *Transport) pushRest(ctx context.Context, w []wire.Desc, sent int, err error) error {
	if err == nil {
		var more int
		more, err = t.ep.SendContext(ctx, w[sent:])
		sent += more
	}
	return t.errs.pushed(sent == len(w), err)
}

// ctxErr is the status of a wait that ended with its context (see
// SendContext), or nil for any other error.
func ctxErr(err error) *plexus.Status {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return plexus.WithCause(plexus.DeadlineExceeded, err, "shm: deadline exceeded while waiting for the peer to free ring space or a slot")
	case errors.Is(err, context.Canceled):
		return plexus.WithCause(plexus.Canceled, err, "shm: canceled while waiting for the peer to free ring space or a slot")
	}
	return nil
}
