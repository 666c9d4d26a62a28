package driver

import (
	"errors"
	"time"

	"github.com/plexus-ipc/plexus/internal/ringfloor"
	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// The bare ring (internal/ringfloor) is measured after the peers under
// every condition of every round, as a column of its own with one figure:
// what 64 callers of a Go host, a goroutine each, make over shared memory
// with nothing but two polled rings between the processes. It is the
// ceiling of plexus's 64-caller figure on this machine at this moment.
const (
	FloorName  = "ring"
	FloorLabel = "bare shm ring (ceiling; 64 callers only)"
)

// floorDur is how long the bare ring's callers run: about as long as the
// fastest peer's 64 callers take in the full sizes.
const floorDur = 500 * time.Millisecond

// ringFloorSupported reports whether the bare ring can be measured here.
func ringFloorSupported() bool {
	p, err := ringfloor.Start()
	if err != nil {
		return false
	}
	return p.Close() == nil
}

// measureFloor runs the bare ring's callers (sz.Callers) with the time
// slice plexus's host asks for, as plexus is measured (the peers loop
// resets it before the next peer), and returns their calls per second.
func measureFloor(sz Sizes) (float64, error) {
	if err := timeslice.Set(timeslice.Default); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
		return 0, err
	}
	d := floorDur
	if sz.CallerCalls < 1000 {
		d = floorDur / 5 // a smoke run
	}
	return ringfloor.Measure(sz.Callers, d)
}
