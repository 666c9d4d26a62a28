package shmlink

import (
	"context"
	"errors"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// The sending side of the Transport: a frame's payload goes inline in its
// descriptor, by reference to a slot (one the caller filled through Alloc,
// or one Send copies into), or in a blob (blob_*.go); the descriptor then
// goes into the ring, ringing the peer's doorbell if it parked.

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
func (t *Transport) SendContext(ctx context.Context, d *wire.Desc, payload []byte) error {
	var o owned
	if cap(payload) > 0 {
		if t.own.Contains(payload) {
			o.idx, o.gen, o.off, o.room, o.slot = t.takeOwn(payload)
		}
		if !o.slot && cap(payload) <= wire.InlineMax && t.small.isOut(payload) {
			// A small buffer from Alloc: the payload is copied into the
			// descriptor, so it goes back to its arena after the send.
			err := t.send(ctx, d, payload, &o)
			t.small.put(payload)
			return err
		}
		if !o.slot && t.blob.nleases.Load() > 0 {
			o.lease, o.loff = t.blob.findLease(payload)
		}
	}
	err := t.send(ctx, d, payload, &o)
	if o.slot {
		t.freeOwn(o.idx, o.gen)
	}
	if o.lease != nil {
		o.lease.discard()
	}
	return err
}

// send does the work of Send. Whatever of o it hands to the peer it clears;
// the caller disposes of the rest.
func (t *Transport) send(ctx context.Context, d *wire.Desc, p []byte, o *owned) error {
	n := len(p)
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
	switch {
	case n == 0:
	case n <= wire.InlineMax:
		w[0].SetInline(p)
	case o.slot && o.room >= n:
		// (A payload running past its slot cannot be cut from an
		// Alloc'd buffer, whose capacity ends with the slot; it would
		// be copied below, and the slot freed by Send after the copy.)
		w[0].SetSlotRef(o.idx, o.gen, uint32(o.off), uint32(n))
		if err := t.push(ctx, w[:]); err != nil {
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
		return t.blob.sendLeased(ctx, w[:], l, off, n)
	case n <= t.ownMax:
		return t.sendInSlot(ctx, w[:], p)
	default:
		return t.blob.send(ctx, w[:], p)
	}
	// An inline or empty payload: push's work, written out so that the
	// most common send enters one function fewer.
	if sent, err := t.ep.SendContext(ctx, w[:]); sent != 1 || err != nil {
		return t.errs.pushed(sent == 1, err)
	}
	return nil
}

// sendInSlot copies p into a slot of this side's pool and publishes it as
// w[0], waiting (within ctx and the segment's bound) for a slot.
func (t *Transport) sendInSlot(ctx context.Context, w []wire.Desc, p []byte) error {
	n := len(p)
	s, err := t.ep.AllocContext(ctx, n)
	if err != nil {
		return t.errs.allocErr(err, n)
	}
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

// push publishes one descriptor. A descriptor that reached the ring counts
// as sent even if ringing the peer's doorbell then failed: the peer finds
// it on its next look. A doorbell the peer broke (saturated, or made
// blocking) breaks the link all the same.
func (t *Transport) push(ctx context.Context, w []wire.Desc) error {
	sent, err := t.ep.SendContext(ctx, w)
	if sent == len(w) && err == nil {
		return nil
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
