//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/internal/ringfloor"
	"github.com/plexus-ipc/plexus/internal/udsbench"
)

// wakeFloor is the p50 of n round trips of udsbench's blocking ping-pong
// (PingPongFloor): what the kernel's wake-up of a blocked thread costs
// twice, the floor under any call that has to wake its peer, here and
// now.
func wakeFloor(n int) (float64, error) {
	fp, err := udsbench.StartFloorPeer()
	if err != nil {
		return 0, fmt.Errorf("floor peer: %w", err)
	}
	lat := make([]time.Duration, n)
	if err := errors.Join(udsbench.PingPongFloor(fp, n, lat), fp.Close()); err != nil {
		return 0, fmt.Errorf("blocking ping-pong: %w", err)
	}
	return us(udsbench.Percentile(lat, 50)), nil
}

// ringFloor is the calls per second of 64 callers over internal/ringfloor's
// bare rings for d: the most a Go host with a goroutine per call can make
// of shared memory on this machine now, the ceiling of calls_per_sec_c64.
func ringFloor(d time.Duration) (float64, error) {
	rate, err := ringfloor.Measure(64, d)
	if err != nil {
		return 0, fmt.Errorf("ring floor: %w", err)
	}
	return rate, nil
}
