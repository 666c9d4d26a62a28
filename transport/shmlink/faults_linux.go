package shmlink

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
)

// faults is the Transport's one mapping from what went wrong to what a
// call reports, and how the link breaks: the peer's death, a protocol
// violation, a closed link, a wait's end. A value in the Transport (like
// blobs and ctl), kept apart so that the Transport's methods are the
// frames' paths and its interfaces.
type faults struct{ t *Transport }

// fail breaks the link with st unless it is already broken or closed, wakes
// every waiter, and returns the error calls report from now on.
func (e faults) fail(st *plexus.Status) error {
	t := e.t
	t.state.fault.CompareAndSwap(nil, st)
	t.ep.Interrupt()
	if err := t.state.err(); err != nil {
		return err
	}
	return st
}

// violate breaks the link over the peer's protocol violation and shuts the
// control socket down for writing, so that the peer sees end of file (and
// reports PeerDied) as a stream peer sees the connection close.
func (e faults) violate(err error) error {
	t := e.t
	st, ok := err.(*plexus.Status)
	if !ok || st.Code != plexus.ProtocolViolation {
		// Errors of the segment layer and the ring name their package.
		st = plexus.WithCause(plexus.ProtocolViolation, err, err.Error())
	}
	err = e.fail(st)
	_ = t.ctl.conn.CloseWrite()
	return err
}

func (e faults) allocErr(err error, n int) error {
	t := e.t
	if err == shm.ErrExhausted {
		return plexus.WithCause(plexus.ResourceExhausted, err,
			fmt.Sprintf("shm: no slot of %d bytes was freed within %v", n, t.wait))
	}
	return e.segErr(err, "alloc")
}

// segErr is the one mapping from an error of the segment layer that ended
// an operation to what the call reports: the status of the call's context
// if that ended the wait, the link's state if the doorbells were closed
// (by Close or the peer's death), a protocol violation (the link breaks)
// for anything the peer caused, and the peer's death for anything else.
// Each caller deals with its own wait bound first (a timeout means
// something else to a send, an Alloc and a receive). Calls whose errors
// can only be the peer's doing (Resolve, Release, FreeOwn) go through it
// too, so that no other place decides what a segment error means.
func (e faults) segErr(err error, op string) error {
	t := e.t
	if st := ctxErr(err); st != nil {
		return st
	}
	switch {
	case err == shm.ErrClosed:
		if s := t.state.err(); s != nil {
			return s
		}
		return errBellClosed
	case isViolation(err):
		return e.violate(err)
	}
	return e.fail(plexus.WithCause(plexus.PeerDied, err, "shm: "+op+": "+err.Error()))
}

// pushed is what a push that did not simply succeed reports: nil if every
// descriptor reached the ring (all), else why not.
func (e faults) pushed(all bool, err error) error {
	t := e.t
	if all {
		if isViolation(err) {
			_ = e.segErr(err, "send")
		}
		return nil
	}
	if err == shm.ErrTimeout {
		return plexus.WithCause(plexus.ResourceExhausted, err,
			fmt.Sprintf("shm: ring full for %v: the peer is not receiving", t.wait))
	}
	return e.segErr(err, "send")
}

// ringErr is what TryRecv makes of a receive from the ring that reported
// err with n descriptors taken. Descriptors in hand are kept even if
// ringing the peer's space doorbell then failed, and a doorbell closed
// by Close or the peer's death after the state was set leaves the state
// to report: what is in the ring is still to take. A doorbell the peer
// broke, or a corrupt ring, is a violation and breaks the link at once.
func (e faults) ringErr(n int, err error) (int, error) {
	t := e.t
	switch {
	case isViolation(err):
		return 0, e.segErr(err, "receive")
	case n > 0 || (err == shm.ErrClosed && t.state.err() != nil):
		return n, nil
	}
	return 0, e.segErr(err, "receive")
}

// watchPeerLife turns the peer's life word into its death (see
// shm.Endpoint.WatchPeerLife). The kernel marks the word as it starts to
// end a killed process, before it unmaps the process's memory and closes
// its descriptors, the control socket among them; for a plugin with a
// large segment that is milliseconds earlier. Frames the peer sent before
// are still delivered, as after the socket's end of file.
func (e faults) watchPeerLife() {
	t := e.t
	defer close(t.lifeDone)
	defer t.state.unref()
	if t.ep.WatchPeerLife() {
		_ = e.fail(plexus.Errorf(plexus.PeerDied, "shm: the peer's process is exiting"))
	}
}
