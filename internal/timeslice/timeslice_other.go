//go:build !linux

package timeslice

import "time"

// Set would give every thread of the process a slice of d; there is no
// such attribute here.
func Set(d time.Duration) error { return ErrUnsupported }

// Get would report the calling thread's slice; there is no such attribute
// here.
func Get() (time.Duration, error) { return 0, ErrUnsupported }
