package shmlink

import (
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
)

// The transport.Poller side of the Transport: the session lets whichever of
// its goroutines waits for a frame poll the ring itself (one at a time,
// like Recv), while at most one other sleeps on the doorbell in
// WaitReadable for when nobody polls.

var _ transport.Poller = (*Transport)(nil)

// TryRecv is Recv without waiting. Frames the peer sent before it went
// away are delivered first; then it reports ErrPeerDied.
func (t *Transport) TryRecv(f *transport.Frame) (bool, error) {
	f.Payload = nil
	if !t.acquire() {
		return false, errLinkClosed
	}
	ok, err := t.tryRecv(f)
	t.unref()
	return ok, err
}

func (t *Transport) tryRecv(f *transport.Frame) (bool, error) {
	if t.closed.Load() {
		return false, errLinkClosed
	}
	fault := t.fault.Load()
	if fault != nil && fault.Code != plexus.PeerDied {
		return false, fault
	}
	if t.bpos >= t.bn {
		n, err := t.ep.TryRecv(t.batch[:])
		// A closed doorbell (Close, the peer's death) still leaves what
		// is in the ring to take; any other error ends the receive, and
		// one the peer caused ends it even with descriptors in hand.
		if err != nil && err != shm.ErrClosed && (n == 0 || isViolation(err)) {
			return false, t.segErr(err, "receive")
		}
		if n == 0 {
			if fault != nil {
				return false, fault
			}
			return false, nil
		}
		t.bpos, t.bn = 0, n
	}
	d := &t.batch[t.bpos]
	t.bpos++
	if err := t.deliver(d, f); err != nil {
		return false, err
	}
	return true, nil
}

// Arm announces that nobody polls; see transport.Poller.
func (t *Transport) Arm() bool {
	if t.bpos < t.bn {
		return true
	}
	if !t.acquire() {
		return false // closed: nothing will ring, and no one must sleep
	}
	pending := t.ep.Arm()
	t.unref()
	return pending
}

// Pending reports whether descriptors wait in the ring.
func (t *Transport) Pending() bool {
	if !t.acquire() {
		return false
	}
	pending := t.ep.Pending()
	t.unref()
	return pending
}

// Disarm withdraws Arm.
func (t *Transport) Disarm() {
	if t.acquire() {
		t.ep.Disarm()
		t.unref()
	}
}

// WaitReadable sleeps on the data doorbell; see transport.Poller.
func (t *Transport) WaitReadable(timeout time.Duration) error {
	if !t.acquire() {
		return errLinkClosed
	}
	defer t.unref()
	if err := t.stateErr(); err != nil {
		return err
	}
	switch err := t.ep.WaitData(timeout); err {
	case nil, shm.ErrTimeout:
		return nil
	default:
		return t.segErr(err, "doorbell")
	}
}

// WakeReader rings this side's own doorbell.
func (t *Transport) WakeReader() { _ = t.ep.WakeData() }

// SpinBudget is the segment's polling budget (shm.Config.Spin).
func (t *Transport) SpinBudget() time.Duration { return t.ep.Spin() }
