package transport

import (
	"context"
	"time"

	"github.com/plexus-ipc/plexus/wire"
)

// Frame is one unit on a link: a 64-byte descriptor (the same format on
// every transport, see SPEC.md) and its payload.
type Frame struct {
	Desc wire.Desc
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
	Send(d *wire.Desc, payload []byte) error
	// Alloc returns n bytes of transport memory that Send carries without
	// copying (a slot of the segment on shared memory). It may wait for
	// the peer to free memory, within a bound.
	Alloc(n int) ([]byte, error)
	// Free returns a buffer from Alloc that will not be sent.
	Free(b []byte)
	// Recv blocks until the next frame, filling f. It returns an error
	// wrapping plexus.ErrPeerDied when the peer is gone, plexus.ErrLinkClosed after
	// Close, plexus.ErrProtocolViolation for malformed input.
	Recv(f *Frame) error
	// Release gives the frame's payload memory back. It is called once
	// per frame returned by Recv.
	Release(f *Frame)
	// MaxPayload is the largest payload one frame may carry.
	MaxPayload() int
	// Close tears the link down. It is idempotent.
	Close() error
}

// Poller is implemented by transports whose receive side can be polled
// without blocking (shared memory). The session then lets whichever
// goroutine is waiting for a frame read the link itself, instead of
// waiting for a reader goroutine to wake it: a hand-off between
// goroutines costs more than a whole shared-memory round trip.
//
// The session guarantees that TryRecv (and Recv), Arm and Disarm are
// called by one goroutine at a time: the one allowed to receive, which
// polls with TryRecv (which withdraws Arm: whoever calls it polls) and
// calls Arm before it stops. Disarm withdraws Arm without a look at the
// link, for a goroutine that will poll soon.
// Wait and Wake may be called from any goroutine at any
// time.
type Poller interface {
	// TryRecv is Recv without waiting: ok is false if no frame is ready.
	// It withdraws Arm, as Disarm does.
	TryRecv(f *Frame) (ok bool, err error)
	// Arm announces that nobody polls, so that the peer's next frame wakes
	// a goroutine in Wait. It reports whether frames are already
	// waiting; the caller must then receive them rather than sleep.
	Arm() (pending bool)
	// Disarm withdraws Arm: a goroutine polls again.
	Disarm()
	// Wait blocks until the peer signals a frame after Arm, the
	// timeout passes, or the link goes down. It returns nil on a signal
	// (which may be spurious) or on timeout, and the link's error once it
	// is down; it consumes nothing.
	Wait(timeout time.Duration) error
	// Wake makes a goroutine in Wait return.
	Wake()
	// Pending reports whether the peer has published frames that nobody
	// has taken from the link yet; unlike Arm it may be called by any
	// goroutine.
	Pending() bool
	// SpinBudget is how long a poller should poll before it sleeps.
	SpinBudget() time.Duration
}

// Ringer is implemented by a Poller whose sends wake a parked peer through
// a doorbell (shared memory). Rang counts the sends that did: a caller that
// sees it move across its own send knows that its peer was asleep and is
// being woken (by that send or a concurrent one), which the session treats
// differently (see the session's pollCall).
type Ringer interface {
	Rang() uint64
}

// TrySender is implemented by transports that can send a frame without a
// payload without ever waiting (shared memory: a push onto the ring if it
// has room now). The session's receiving goroutines, which must never wait
// for the send side, send link credit this way and hand it to their
// control writer only when the ring is full: waking the writer's
// goroutine for every grant woke an idle processor's thread, which took
// the processor from a polling caller (a 1 MiB response grants the whole
// window back on every call).
type TrySender interface {
	// TrySend sends d with no payload if it can do so at once; sent is
	// false, with a nil error, if it could not, and nothing was sent.
	TrySend(d *wire.Desc) (sent bool, err error)
}

// ContextSender is implemented by transports whose Send and Alloc may wait
// for the peer (for ring space or for memory it must free, on shared
// memory). The session passes the call's context, and such a wait ends
// when the context is done, with a DEADLINE_EXCEEDED or CANCELED status
// and nothing sent: a call's deadline bounds everything the call waits
// for. Send and Alloc behave as SendContext and AllocContext with a
// context that is never done.
type ContextSender interface {
	SendContext(ctx context.Context, d *wire.Desc, payload []byte) error
	AllocContext(ctx context.Context, n int) ([]byte, error)
}

// Sealer is implemented by transports that can place bytes in sealed
// memory (shared memory: a memfd sealed against writes), which this link
// and every other such link of the process then sends by reference,
// without a copy: a large message written once can reach many receivers
// on the machine (publish/subscribe fan-out). Seal copies p once; the
// sealed bytes are read-only and valid until release, and frames already
// sent keep their own references.
type Sealer interface {
	Seal(p []byte) (sealed []byte, release func(), err error)
}
