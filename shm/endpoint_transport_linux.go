package shm

import (
	"time"

	"github.com/plexus-ipc/plexus/wire"
)

// The methods in this file exist for transport/shmlink, which layers a
// transport.Transport over an Endpoint and a control socket. They add no
// behaviour to the segment: each is a thin, exported view of something the
// Endpoint already does internally.

// Interrupt closes this side's two waiting doorbells (data ready for this
// side's receiver, space freed for this side's senders). Every goroutine of
// this process blocked in Recv, Send (waiting for ring space) or Alloc
// (waiting for a slot) wakes at once with ErrClosed, and so does every later
// wait; waits that find their condition already true still succeed, so
// descriptors already in the ring can be drained with TryRecv. The bells
// the peer waits on are untouched: ringing them stays harmless.
//
// A transport calls it when the peer is gone or the link is closed, since
// nothing else can end a park that is bounded only by a long timeout.
func (e *Endpoint) Interrupt() {
	e.downOnce.Do(func() { close(e.down) })
	_ = e.dataIn.Close()
	_ = e.spaceIn.Close()
	// A ring of the peer's bells stuck in its write (a peer that made
	// the eventfd blocking and filled it: see Bell) holds a sender, and
	// with it the segment, until the counter is read down.
	go e.dataOut.Unstick()
	go e.spaceOut.Unstick()
}

// TryRecv is Recv without waiting: it copies out whatever descriptors are
// in the ring (possibly none). It must not be called concurrently with Recv
// or itself.
func (e *Endpoint) TryRecv(dst []wire.Desc) (int, error) { return e.tryRecv(dst) }

// FreeOwn returns a slot of this side's pool that was allocated and will
// not be sent. Unlike Release (which frees a peer's slot and wakes the
// peer's senders), it wakes this process's own senders if one of them
// announced that it waits for a slot.
func (e *Endpoint) FreeOwn(index, gen uint32) error {
	wake, err := e.own.Free(index, gen)
	if wake {
		// The bell may be closed by Interrupt; the waiter then wakes
		// anyway, so the error carries no information.
		_ = e.spaceIn.Ring()
	}
	return err
}

// WaitLimit is the configured bound on waits for ring space and slots
// (Config.Wait after defaults).
func (e *Endpoint) WaitLimit() time.Duration { return e.wait }

// Arm announces that no goroutine of this side is polling the receive
// ring, so the peer must ring the data doorbell for its next descriptor.
// It reports whether descriptors are already waiting, in which case the
// caller must not rely on a ring and should receive them itself (after
// Disarm). Arm, Disarm, Pending and WaitData may be called by any
// goroutine, concurrently with the one receiving.
func (e *Endpoint) Arm() (pending bool) {
	e.rx.PreparePark()
	return e.rx.Pending()
}

// Pending reports whether descriptors wait in the receive ring.
func (e *Endpoint) Pending() bool { return e.rx.Pending() }

// Disarm withdraws Arm: a goroutine is polling again, and the peer may
// publish without ringing.
func (e *Endpoint) Disarm() { e.rx.CancelPark() }

// WaitData blocks on the data doorbell until it rings, timeout passes
// (ErrTimeout), or Interrupt closes it (ErrClosed). It does not look at
// the ring: wake-ups may be spurious, and Arm is the caller's business.
func (e *Endpoint) WaitData(timeout time.Duration) error { return e.dataIn.Wait(timeout) }

// WakeData rings this side's own data doorbell, waking a goroutine in
// WaitData: a poller that stops while descriptors are waiting uses it to
// hand them to the sleeper.
func (e *Endpoint) WakeData() error { return e.dataIn.Ring() }

// Spin is the configured polling budget before parking.
func (e *Endpoint) Spin() time.Duration { return e.spin }
