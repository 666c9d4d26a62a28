package session

import (
	"errors"
	"sync"

	"github.com/plexus-ipc/plexus"
)

// Lease is a buffer of link memory: on shared memory, a slot of the
// segment or, above the largest slot, a blob buffer (a memfd the link
// recycles). The sender gets one from Session.Alloc, fills it in place
// (decodes an image into it, reads a file into it) and passes it as a
// call's request, response or
// stream message; it then crosses without a copy, and the sender must not
// touch it again. On the receiving side a *Lease given to Invoke or
// Stream.Recv as the response is a view of the same bytes, valid until
// Release.
//
// A Lease is sent without a copy only as a whole message without
// metadata (a context with outgoing metadata, or a handler that sets a
// trailer, makes the session copy it once). A []byte that is not in the
// segment is always copied once. On the stream and in-process transports
// a Lease is ordinary memory and is copied as any message is.
//
// A Lease is sent at most once, and not after Release: a second send, or
// one after Release, fails with FAILED_PRECONDITION (ErrLeaseSent,
// ErrLeaseReleased) rather than sending an empty message, since the bytes
// it held are the peer's or the pool's by then. A received view is the
// exception: sending it copies it, and it may be sent until Release.
//
// A Lease is not safe for concurrent use.
type Lease struct {
	s    *Session
	buf  []byte // the allocation (sender) or the view (receiver)
	sent bool   // spent: handed to the transport, or copied into a frame
	// released: Release gave the memory back before the lease was sent.
	// Without it a released lease (buf nil) would look like an empty one
	// and go out as an empty message.
	released bool

	mu      sync.Mutex
	release func() // receiver: gives the frame back
}

// ErrLeaseSent and ErrLeaseReleased are the causes of the status of a send
// of a lease that was sent before or released: errors.Is(err,
// session.ErrLeaseSent) tells the program's bug apart from a failure of
// the link. The lease is not sent, and nothing reaches the peer.
var (
	ErrLeaseSent     = errors.New("session: lease already sent")
	ErrLeaseReleased = errors.New("session: lease released")
)

// unusable is the status a send of l fails with, or nil if l can be sent.
// encode reaches it through MarshalMsg (the copying path, which a spent or
// released lease falls to, since take refuses it).
func (l *Lease) unusable() *plexus.Status {
	switch {
	case l == nil:
		return nil // encode's own concern (generated code refuses nil first)
	case l.sent:
		return plexus.WithCause(plexus.FailedPrecondition, ErrLeaseSent,
			"lease already sent: a lease is spent by its first send, successful or not; allocate another")
	case l.released:
		return plexus.WithCause(plexus.FailedPrecondition, ErrLeaseReleased,
			"lease released: its memory went back before it was sent; allocate another")
	}
	return nil
}

// Alloc returns a lease of n bytes of link memory. It waits, within the
// transport's bound, for the peer to release memory, then fails with
// ResourceExhausted. Every lease must be sent or Released.
func (s *Session) Alloc(n int) (*Lease, error) {
	if err := s.Err(); err != nil {
		return nil, err
	}
	if max := s.t.MaxPayload(); n > max {
		return nil, plexus.Errorf(plexus.ResourceExhausted, "lease of %d bytes exceeds the link's %d-byte frame limit", n, max)
	}
	b, err := s.t.Alloc(n)
	if err != nil {
		if serr := s.Err(); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	return &Lease{s: s, buf: b[:n]}, nil
}

// Bytes is the lease's memory: writable on the sender's side until the
// lease is sent, a read-only view on the receiver's side until Release.
func (l *Lease) Bytes() []byte { return l.buf }

// Len is the lease's size in bytes.
func (l *Lease) Len() int { return len(l.buf) }

// Release gives the memory back: a received view to the peer, an unsent
// lease to this side's pool. It is idempotent, and does nothing after the
// lease was sent. A lease released before it was sent can no longer be
// sent (ErrLeaseReleased).
func (l *Lease) Release() {
	l.mu.Lock()
	rel, buf, s, sent := l.release, l.buf, l.s, l.sent
	l.release, l.buf, l.s = nil, nil, nil
	l.released = l.released || !sent
	l.mu.Unlock()
	switch {
	case rel != nil:
		rel()
	case s != nil && !sent && buf != nil:
		s.t.Free(buf)
	}
}

// Msgsize and MarshalMsg make a Lease a message. The session sends a
// lease's own memory instead of calling MarshalMsg where it can (see
// take); MarshalMsg is the copy for the cases where it cannot.
func (l *Lease) Msgsize() int { return len(l.buf) }

// MarshalMsg appends the lease's bytes (the copying path). It fails for a
// lease that was sent or released, which has no bytes left to append:
// appending nothing would send an empty message in its place.
func (l *Lease) MarshalMsg(b []byte) ([]byte, error) {
	if st := l.unusable(); st != nil {
		return b, st
	}
	return append(b, l.buf...), nil
}

// UnmarshalMsg makes the lease a view of a received message, which may be
// sent (copied) until Release whatever the lease was before: a view
// belongs to no pool of this side (Release must not Free it). The session
// then hands it the release of the frame (Retain) instead of releasing the
// frame itself.
func (l *Lease) UnmarshalMsg(b []byte) ([]byte, error) {
	l.s, l.buf = nil, b
	l.sent, l.released = false, false
	return nil, nil
}

// Retain implements plexus.Retainer: the received frame stays with the
// lease until Release.
func (l *Lease) Retain(release func()) {
	l.mu.Lock()
	l.release = release
	l.mu.Unlock()
}

// view returns the bytes of a received view (see UnmarshalMsg), nil for
// any other lease.
func (l *Lease) view() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil || l.release == nil {
		return nil
	}
	return l.buf
}

// take hands an unsent lease's memory to the session for sending without a
// copy, if the lease belongs to s; the lease is spent either way once the
// frame is handed to the transport.
func (l *Lease) take(s *Session) ([]byte, bool) {
	if l == nil || l.s != s || l.sent || l.release != nil || l.buf == nil {
		return nil, false
	}
	l.sent = true
	b := l.buf
	l.buf = nil
	return b, true
}

var (
	_ plexus.Marshaler   = (*Lease)(nil)
	_ plexus.Unmarshaler = (*Lease)(nil)
	_ plexus.Retainer    = (*Lease)(nil)
)

// spend frees an unsent lease of s whose bytes were copied into a frame
// (or whose copy failed), and marks it sent, so that sending it again
// fails as sending a lease taken without a copy does. A received view is
// left as it is: it is the receiver's to Release, and may be sent again.
func (l *Lease) spend(s *Session) {
	// Whichever link it came from: a lease of another session copied into
	// this one's frame is as spent as one of this session.
	if !l.sent && !l.released && l.release == nil {
		l.Release()
		l.sent, l.released = true, false
	}
}

// unspend gives a lease back the memory take handed out, when the frame
// was refused before it left (ErrNotSent): the caller may send it again.
func (l *Lease) unspend(b []byte) bool {
	if !l.sent || l.buf != nil || len(b) == 0 {
		return false
	}
	l.sent, l.buf = false, b
	return true
}
