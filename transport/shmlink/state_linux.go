package shmlink

import (
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
)

// closedBit is added to linkState.refs by Close: from then on acquire
// fails, and the count reaches closedBit exactly when nothing needs the
// segment any more.
const closedBit = 1 << 62

// linkState is a Transport's lifetime (see the package comment): whether
// the link may still be used, why not, and when the segment may be
// unmapped. It is apart from the Transport so that every call asks one
// place whether it may go on, and so that the rule "unmap once nothing can
// touch the segment" lives in one type.
type linkState struct {
	// refs counts what needs the segment mapped: the transport itself
	// (until Close), every goroutine inside Send, Recv or Alloc, every
	// unreleased slot frame and every slot out with the caller. closedBit
	// is added by Close; the release that brings the count to zero with
	// it set calls unmap.
	refs   atomic.Int64
	closed atomic.Bool // Close was called
	// fault is why the link broke without Close: the peer went away
	// (PeerDied) or violated the protocol. The first cause wins.
	fault atomic.Pointer[plexus.Status]
	// unmap releases the segment once nothing can touch it. A failed
	// acquire's undo may also be that last release, so it can run more
	// than once and must be idempotent.
	unmap func()
}

// acquire takes a reference that keeps the segment mapped; it fails once
// Close has begun. A failed acquire undoes its increment, which may be the
// last release.
func (s *linkState) acquire() bool {
	if s.refs.Add(1)&closedBit != 0 {
		return s.refused()
	}
	return true
}

// refused undoes a failed acquire's increment. It is kept out of line so
// that acquire, on every call's path, inlines.
//
//go:noinline
func (s *linkState) refused() bool {
	s.unref()
	return false
}

func (s *linkState) unref() {
	if s.refs.Add(-1) == closedBit {
		s.unmap()
	}
}

// recvErr is err for a receiver, which still delivers what the peer sent
// before it died: the peer's death is not an error yet.
func (s *linkState) recvErr() error {
	if s.closed.Load() {
		return errLinkClosed
	}
	if f := s.fault.Load(); f != nil && f.Code != plexus.PeerDied {
		return f
	}
	return nil
}

// err is the error every call reports once the link is down, nil while
// it is up: own Close wins over the peer's death and violations.
func (s *linkState) err() error {
	if s.closed.Load() {
		return errLinkClosed
	}
	if f := s.fault.Load(); f != nil {
		return f
	}
	return nil
}
