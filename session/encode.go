package session

import (
	"context"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// send hands a frame to the transport. A transport whose Send may wait
// for the peer (transport.ContextSender: shared memory, for ring space or a
// slot) gets ctx, so that the wait ends with the call's deadline or
// cancellation rather than the transport's own bound. One interface call
// (s.cs is the transport itself, or plainSender), so that send inlines.
func (s *Session) send(ctx context.Context, d *wire.Desc, payload []byte) error {
	return s.cs.SendContext(ctx, d, payload)
}

// alloc is the transport's Alloc, its wait bounded by ctx as send's.
func (s *Session) alloc(ctx context.Context, n int) ([]byte, error) {
	return s.cs.AllocContext(ctx, n)
}

// plainSender is a transport whose Send and Alloc do not wait for the
// peer, as a transport.ContextSender: the context has nothing to bound.
type plainSender struct{ t transport.Transport }

func (p plainSender) SendContext(_ context.Context, d *wire.Desc, payload []byte) error {
	return p.t.Send(d, payload)
}

func (p plainSender) AllocContext(_ context.Context, n int) ([]byte, error) {
	return p.t.Alloc(n)
}

// encode builds a frame payload of [metadata block][message][status body]
// in transport memory (a slot of the segment on shared memory), so the
// message is encoded once, in place, and crosses without a further copy.
// fromAlloc tells whether payload is (a prefix of) that transport memory;
// if the message outgrew its Msgsize estimate the payload is an ordinary
// heap slice that the transport will copy.
//
// A payload whose size (Msgsize is an upper bound) fits in scratch, which
// is at most wire.InlineMax bytes, is encoded there instead: the transport
// copies a payload that small into the descriptor anyway, and memory from
// Alloc would only cost its allocation and its return. scratch is the
// sending goroutine's (a channel's, see channel.scratch), or nil.
//
// A wait for transport memory ends when ctx does (see send).
func (s *Session) encode(ctx context.Context, md plexus.Metadata, m plexus.Marshaler, st *plexus.Status, scratch []byte) (payload []byte, fromAlloc bool, flags uint8, err error) {
	if l, ok := m.(*Lease); ok {
		return s.encodeLease(ctx, md, l, st, scratch)
	}
	if r, ok := m.(plexus.Raw); ok && s.passes(md, st, r, scratch) {
		return r, false, wire.FlagMsg, nil
	}
	size := 0
	if len(md) > 0 {
		n, err := wire.MetadataSize(md)
		if err != nil {
			return nil, false, 0, err
		}
		size += n
		flags |= wire.FlagMD
	}
	if st != nil {
		size += 4 + len(st.Message) + len(st.Details)
	}
	if m != nil {
		size += m.Msgsize()
		flags |= wire.FlagMsg
	} else if size == 0 {
		return nil, false, flags, nil
	}
	if max := s.t.MaxPayload(); size > max {
		return nil, false, 0, plexus.Errorf(plexus.ResourceExhausted, "message of %d bytes exceeds the link's %d-byte frame limit", size, max)
	}
	// An empty message needs no memory either: nothing is appended.
	buf := scratch[:0]
	if fromAlloc = size > cap(scratch); fromAlloc {
		if buf, err = s.alloc(ctx, size); err != nil {
			return nil, false, 0, err
		}
	}
	b := appendMetadata(buf[:0], md)
	if m != nil {
		if b, err = m.MarshalMsg(b); err != nil {
			s.freeIf(buf, fromAlloc)
			return nil, false, 0, plexus.WithCause(plexus.Internal, err, "encoding message: "+err.Error())
		}
	}
	b = appendStatusBody(b, st)
	if inPlace(buf, b) {
		return buf[:len(b)], fromAlloc, flags, nil
	}
	return s.outgrown(buf, b, fromAlloc, flags)
}

// encodeLease is encode for a Lease: alone, its memory is the payload and
// crosses as it is; with metadata or a status it is copied (as any
// message, through leaseCopy, which encode does not take for a lease),
// and the lease is spent all the same.
func (s *Session) encodeLease(ctx context.Context, md plexus.Metadata, l *Lease, st *plexus.Status, scratch []byte) (payload []byte, fromAlloc bool, flags uint8, err error) {
	if bad := l.unusable(); bad != nil {
		return nil, false, 0, bad // a spent or released lease: the caller's bug, not an encoding failure
	}
	if len(md) == 0 && st == nil {
		if b, ok := l.take(s); ok {
			return b, true, wire.FlagMsg, nil
		}
		if v := l.view(); s.passes(md, st, v, scratch) {
			return v, false, wire.FlagMsg, nil
		}
	}
	defer l.spend(s)
	return s.encode(ctx, md, leaseCopy{l}, st, scratch)
}

// passes reports whether a message of bytes b that exist already (a Raw
// message, a received view) goes to the transport as it is, rather than
// being copied into transport memory first: alone (no metadata, no
// status), too large for scratch, within the frame limit. The transport
// copies it once as any payload it did not allocate, or, on shared
// memory, sends bytes that lie in sealed memory (a large message received
// from a peer, or one sealed for fan-out) by reference, without a copy.
func (s *Session) passes(md plexus.Metadata, st *plexus.Status, b []byte, scratch []byte) bool {
	return len(md) == 0 && st == nil && len(b) > cap(scratch) && len(b) <= s.t.MaxPayload()
}

// leaseCopy is a Lease as an ordinary message, which encode copies.
type leaseCopy struct{ *Lease }

// inPlace reports whether b (the encoded payload) lies where buf does: the
// message kept to its Msgsize.
func inPlace(buf, b []byte) bool {
	return len(b) > 0 && len(b) <= cap(buf) && &b[0] == &buf[:1][0]
}

// outgrown is the end of encode for a payload that is not where buf is: a
// message that outgrew its Msgsize (or ignored the buffer it was given),
// now on the heap, or an empty one. buf is freed if it came from Alloc.
func (s *Session) outgrown(buf, b []byte, fromAlloc bool, flags uint8) ([]byte, bool, uint8, error) {
	s.freeIf(buf, fromAlloc)
	if len(b) > s.t.MaxPayload() {
		return nil, false, 0, plexus.Errorf(plexus.ResourceExhausted, "message of %d bytes exceeds the link's %d-byte frame limit", len(b), s.t.MaxPayload())
	}
	return b, false, flags, nil
}

// appendMetadata and appendStatusBody append what there is of either.
func appendMetadata(b []byte, md plexus.Metadata) []byte {
	if len(md) == 0 {
		return b
	}
	return wire.AppendMetadata(b, md)
}

func appendStatusBody(b []byte, st *plexus.Status) []byte {
	if st == nil {
		return b
	}
	return wire.AppendStatusBody(b, st)
}

// consume hands a received message to m, or to nobody if m is nil, and
// then releases its frame, granting the frame's cost back to the peer
// once enough has accumulated (half the window), so that credit frames
// stay rare. If m keeps views into the payload (Retainer), it takes over
// the release instead.
func (ch *channel) consume(it *item, m plexus.Unmarshaler) error {
	if it.pk != nil {
		return ch.decodePacked(it.msg, it.pk, m)
	}
	var err error
	if m != nil {
		if _, err = m.UnmarshalMsg(it.msg); err == nil {
			if r, ok := m.(plexus.Retainer); ok {
				ch.retain(r, *it)
				return nil
			}
		}
	}
	ch.mu.Lock()
	cost := wire.FrameCost(len(it.f.Payload))
	// Released through a field: a pointer to the caller's item would
	// escape through the Transport interface and cost an allocation per
	// message.
	ch.rel = it.f
	ch.s.t.Release(&ch.rel)
	ch.rel = transport.Frame{}
	ch.consumed += cost
	grant := int64(0)
	if ch.state()&stRecvEnd == 0 && ch.consumed >= ch.window/2 {
		grant, ch.consumed = ch.consumed, 0
	}
	ch.mu.Unlock()
	if grant > 0 {
		// The reader adds the grant to its view of the peer's credit
		// when it queues the frame, keeping enforcement in step.
		ch.grant(grant)
	}
	if err != nil {
		return plexus.WithCause(plexus.Internal, err, "decoding message: "+err.Error())
	}
	return nil
}

// decodePacked is consume for a message of a packed frame, which holds a
// reference to its frame (see fromCursor).
func (ch *channel) decodePacked(msg []byte, pk *packRef, m plexus.Unmarshaler) error {
	if m == nil {
		ch.unref(pk)
		return nil
	}
	_, err := m.UnmarshalMsg(msg)
	if r, ok := m.(plexus.Retainer); ok && err == nil {
		r.Retain(func() { ch.unref(pk) })
		return nil
	}
	ch.unref(pk)
	if err != nil {
		return plexus.WithCause(plexus.Internal, err, "decoding message: "+err.Error())
	}
	return nil
}

// retain hands the release of an item to a Retainer. A unary call's one
// response is kept in the channel, and the channel goes back to the pool
// once both Invoke and the release are done with it (doneRetained): a
// call whose response is a lease then allocates nothing, as one whose
// response is copied. A stream's messages may be retained several at a
// time, each with a release of its own (retainMsg).
func (ch *channel) retain(r plexus.Retainer, held item) {
	if !ch.unary {
		ch.retainMsg(r, held)
		return
	}
	ch.held = held
	ch.retainRefs.Store(2)
	r.Retain(ch.releaseHeld)
}

// retainMsg is retain for a stream's message. It is a function of its
// own so that only this path moves the item to the heap.
func (ch *channel) retainMsg(r plexus.Retainer, held item) {
	r.Retain(func() { _ = ch.consume(&held, nil) })
}

// releaseRetained is a unary call's retained response's release (bound
// once per channel as releaseHeld). The Retainer's release happens after
// its Retain (a lease orders both under its lock), so held is this
// call's.
func (ch *channel) releaseRetained() {
	_ = ch.consume(&ch.held, nil)
	ch.held = item{}
	ch.doneRetained()
}

// doneRetained is one of the two parties of a retained unary response
// (Invoke, the release) done with the channel; the second recycles it.
func (ch *channel) doneRetained() {
	if ch.retainRefs.Add(-1) == 0 {
		ch.s.pool.recycle(ch)
	}
}
