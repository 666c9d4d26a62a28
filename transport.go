package plexus

import "github.com/plexus-ipc/plexus/ring"

// Frame is one unit on a link: a 64-byte descriptor (the same format on
// every transport, see DESIGN.md) and its payload.
type Frame struct {
	Desc ring.Desc
	// Payload is a view owned by the transport until Release. On the
	// shared-memory transport it points into the segment (zero copy).
	Payload []byte
}

// Transport moves frames between the two ends of one link. The session
// layer is written against this interface only; shared memory, Unix and TCP
// sockets and the in-process pipe implement it.
//
// Payload ownership: Send copies payload unless it was returned by Alloc
// on the same transport, in which case ownership passes to the transport
// (and then the peer) without a copy, whether Send succeeds or not. Recv
// hands out frames whose Payload stays valid until Release.
//
// Concurrency: Send, Alloc, Free and Release are safe for concurrent use;
// Recv is called by one goroutine at a time. Close may be called at any
// time and from any goroutine; it makes a blocked Recv return.
type Transport interface {
	// Send transmits one frame. The transport sets the payload fields of
	// d (flags INLINE/SLOT, length, slot reference); the caller sets the
	// rest. The caller must not use payload after Send if it came from
	// Alloc.
	Send(d *ring.Desc, payload []byte) error
	// Alloc returns n bytes of transport memory that Send carries without
	// copying (a slot of the segment on shared memory). It may wait for
	// the peer to free memory, within a bound.
	Alloc(n int) ([]byte, error)
	// Free returns a buffer from Alloc that will not be sent.
	Free(b []byte)
	// Recv blocks until the next frame, filling f. It returns an error
	// wrapping ErrPeerDied when the peer is gone, ErrLinkClosed after
	// Close, ErrProtocolViolation for malformed input.
	Recv(f *Frame) error
	// Release gives the frame's payload memory back. It is called once
	// per frame returned by Recv.
	Release(f *Frame)
	// MaxPayload is the largest payload one frame may carry.
	MaxPayload() int
	// Close tears the link down. It is idempotent.
	Close() error
}
