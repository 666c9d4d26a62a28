package timeslice

import (
	"errors"
	"sync/atomic"
	"time"
)

// Default is the slice plexus's host and plugin ask for unless configured
// otherwise: the kernel's minimum. A thread that wakes then preempts one
// of the kernel's default slice (0.7 ms times one plus the log2 of the
// processor count, up to 8: 0.7-2.8 ms) instead of waiting for that slice
// to end.
const Default = 100 * time.Microsecond

// Min and Max are the bounds the kernel clamps a slice to.
const (
	Min = 100 * time.Microsecond
	Max = 100 * time.Millisecond
)

// ErrUnsupported is Set's and Get's error where threads have no slice
// attribute (systems other than Linux).
var ErrUnsupported = errors.New("timeslice: the system has no per-thread time slice")

// clamp bounds d as the kernel does; 0 (the kernel's default) stays 0.
func clamp(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return min(max(d, Min), Max)
}

// asked is the slice Set last set in full, plus one (0: none yet).
var asked atomic.Int64

// Ask is Set for callers that ask on every start (a host starting
// plugins, a plugin starting): it sets d unless the last Set (its own or
// another's) set the same value, which threads started since have
// inherited. A negative d asks for nothing. A thread whose slice was
// changed in between other than by Set keeps it.
func Ask(d time.Duration) error {
	if d < 0 {
		return nil
	}
	if asked.Load() == int64(clamp(d))+1 {
		return nil
	}
	return Set(d)
}
