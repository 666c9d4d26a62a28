//go:build !linux

package timeslice

import "time"

// Set would give every thread of the process a slice of d; there is no
// such attribute here.
func Set(d time.Duration) error { return ErrUnsupported }

// Get would report the calling thread's slice; there is no such attribute
// here.
func Get() (time.Duration, error) { return 0, ErrUnsupported }

// Of would report the slice of every thread of process pid; there is no
// such attribute here.
func Of(pid int) (map[int]time.Duration, error) { return nil, ErrUnsupported }

// Await would wait until every thread of process pid has a slice of want;
// there is no such attribute here.
func Await(pid int, want, within time.Duration) error { return ErrUnsupported }
