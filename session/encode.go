package session

import (
	"context"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// send hands a frame to the transport. A transport whose Send may wait
// for the peer (transport.ContextSender: shared memory, for ring space or a
// slot) gets ctx, so that the wait ends with the call's deadline or
// cancellation rather than the transport's own bound.
func (s *Session) send(ctx context.Context, d *wire.Desc, payload []byte) error {
	if s.cs != nil {
		return s.cs.SendContext(ctx, d, payload)
	}
	return s.t.Send(d, payload)
}

// alloc is the transport's Alloc, its wait bounded by ctx as send's.
func (s *Session) alloc(ctx context.Context, n int) ([]byte, error) {
	if s.cs != nil {
		return s.cs.AllocContext(ctx, n)
	}
	return s.t.Alloc(n)
}

// encode builds a frame payload of [metadata block][message][status body]
// in transport memory (a slot of the segment on shared memory), so the
// message is encoded once, in place, and crosses without a further copy.
// fromAlloc tells whether payload is (a prefix of) that transport memory;
// if the message outgrew its Msgsize estimate the payload is an ordinary
// heap slice that the transport will copy.
//
// A wait for transport memory ends when ctx does (see send).
func (s *Session) encode(ctx context.Context, md plexus.Metadata, m plexus.Marshaler, st *plexus.Status) (payload []byte, fromAlloc bool, flags uint8, err error) {
	if l, ok := m.(*Lease); ok {
		if len(md) == 0 && st == nil {
			// A lease alone is the payload: its memory crosses as it is.
			if b, ok := l.take(s); ok {
				return b, true, wire.FlagMsg, nil
			}
		}
		// Copied below; the lease is spent all the same.
		defer l.spend(s)
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
	if m != nil {
		size += m.Msgsize()
		flags |= wire.FlagMsg
	}
	if st != nil {
		size += 4 + len(st.Message) + len(st.Details)
	}
	if size == 0 && m == nil {
		return nil, false, flags, nil
	}
	if max := s.t.MaxPayload(); size > max {
		return nil, false, 0, plexus.Errorf(plexus.ResourceExhausted, "message of %d bytes exceeds the link's %d-byte frame limit", size, max)
	}
	buf, err := s.alloc(ctx, max(size, 1))
	if err != nil {
		return nil, false, 0, err
	}
	b := buf[:0]
	if len(md) > 0 {
		b = wire.AppendMetadata(b, md)
	}
	if m != nil {
		if b, err = m.MarshalMsg(b); err != nil {
			s.t.Free(buf)
			return nil, false, 0, plexus.WithCause(plexus.Internal, err, "encoding message: "+err.Error())
		}
	}
	if st != nil {
		b = wire.AppendStatusBody(b, st)
	}
	if len(b) > 0 && len(b) <= cap(buf) && &b[0] == &buf[:1][0] {
		return buf[:len(b)], true, flags, nil
	}
	s.t.Free(buf)
	if len(b) > s.t.MaxPayload() {
		return nil, false, 0, plexus.Errorf(plexus.ResourceExhausted, "message of %d bytes exceeds the link's %d-byte frame limit", len(b), s.t.MaxPayload())
	}
	return b, false, flags, nil
}

// decode hands a received message to m. If m keeps views into the payload
// (Retainer), it takes over the release; otherwise the item is released
// (and its credit granted back) at once.
func (ch *channel) decode(it *item, m plexus.Unmarshaler) error {
	if it.pk != nil {
		return ch.decodePacked(it.msg, it.pk, m)
	}
	if m == nil {
		ch.done(it)
		return nil
	}
	_, err := m.UnmarshalMsg(it.msg)
	if r, ok := m.(plexus.Retainer); ok && err == nil {
		ch.retain(r, *it)
		return nil
	}
	ch.done(it)
	if err != nil {
		return plexus.WithCause(plexus.Internal, err, "decoding message: "+err.Error())
	}
	return nil
}

// decodePacked is decode for a message of a packed frame, which holds a
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

// retain hands the release of an item to a Retainer. It is a function of
// its own so that only this path moves the item to the heap.
func (ch *channel) retain(r plexus.Retainer, held item) {
	r.Retain(func() { ch.done(&held) })
}
