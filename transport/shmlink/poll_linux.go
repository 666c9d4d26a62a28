package shmlink

import (
	"time"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
)

// The transport.Poller side of the Transport: the session lets whichever of
// its goroutines waits for a frame poll the ring itself (one at a time,
// like Recv), while at most one other sleeps on the doorbell in
// Wait for when nobody polls.

var _ transport.Poller = (*Transport)(nil)

// TryRecv is Recv without waiting. Frames the peer sent before it went
// away are delivered first; then it reports ErrPeerDied.
func (t *Transport) TryRecv(f *transport.Frame) (bool, error) {
	f.Payload = nil
	if !t.state.acquire() {
		return false, errLinkClosed
	}
	ok, err := t.receive(f, false)
	t.state.unref()
	return ok, err
}

// Arm announces that nobody polls; see transport.Poller.
func (t *Transport) Arm() bool {
	if t.bpos < t.bn {
		return true
	}
	if !t.state.acquire() {
		return false // closed: nothing will ring, and no one must sleep
	}
	pending := t.ep.Arm()
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
		return t.segErr(err, "doorbell")
	}
}

// Wake rings this side's own doorbell.
func (t *Transport) Wake() { _ = t.ep.Wake() }

// SpinBudget is the segment's polling budget (shm.Config.Spin).
func (t *Transport) SpinBudget() time.Duration { return t.ep.Spin() }
