package shm

import (
	"errors"
	"fmt"

	"github.com/plexus-ipc/plexus/ring"
)

// ErrProtocol is the root of every error caused by a value the peer wrote
// that cannot be right. It means the link is broken and must be closed;
// nothing else is affected. Test with errors.Is(err, ErrProtocol).
var ErrProtocol = errors.New("shm: protocol violation")

var (
	// ErrStale: a slot reference whose generation does not match the slot
	// (already freed, reused, or never allocated).
	ErrStale = fmt.Errorf("%w: stale or invalid slot generation", ErrProtocol)
	// ErrBadRef: a slot reference outside the pool's layout.
	ErrBadRef = fmt.Errorf("%w: slot reference out of bounds", ErrProtocol)
	// ErrCorrupt: shared bookkeeping (free lists, indices) in an impossible state.
	ErrCorrupt = fmt.Errorf("%w: shared state corrupt", ErrProtocol)
	// ErrBellSaturated: the peer wrote a doorbell's counter to its
	// maximum, so that a ring would block (see Bell).
	ErrBellSaturated = fmt.Errorf("%w: doorbell counter saturated", ErrProtocol)
	// ErrBellBlocking: the peer cleared O_NONBLOCK on a doorbell, which
	// both processes share (see Bell).
	ErrBellBlocking = fmt.Errorf("%w: doorbell made blocking", ErrProtocol)
	// errRingCorrupt is ring.ErrCorrupt as this package reports it: a
	// protocol violation like every other peer-caused error.
	errRingCorrupt = fmt.Errorf("%w: %w", ErrProtocol, ring.ErrCorrupt)

	// ErrNoSlot: no free slot fits right now; the caller may wait.
	ErrNoSlot = errors.New("shm: no free slot")
	// ErrExhausted: no slot was freed within the configured wait.
	ErrExhausted = errors.New("shm: slot pool exhausted")
	// ErrTooLarge: the request exceeds the largest slot class.
	ErrTooLarge = errors.New("shm: size exceeds the largest slot class")
	// ErrClosed: the segment or doorbell was closed.
	ErrClosed = errors.New("shm: closed")
	// ErrTimeout: a bounded wait ended without the event.
	ErrTimeout = errors.New("shm: wait timed out")
)

// LayoutError reports a segment or pool layout that cannot be opened; it
// names the field so that a version or build mismatch is easy to diagnose.
type LayoutError struct {
	Field  string
	Reason string
}

func (e *LayoutError) Error() string { return "shm: bad layout: " + e.Field + ": " + e.Reason }

// Unwrap makes a LayoutError a protocol violation: the peer that wrote the
// layout does not speak our format.
func (e *LayoutError) Unwrap() error { return ErrProtocol }

func layoutErr(field, format string, args ...any) error {
	return &LayoutError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
