//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/internal/ringfloor"
	"github.com/plexus-ipc/plexus/internal/stallprobe"
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

// machineDur is how long the machine's probe spins.
const machineDur = 500 * time.Millisecond

// machineStalls runs internal/stallprobe into r under prefix: how often a
// thread that never blocks lost its processor for over 20 us (a second,
// per thread), and the share of its time lost. A tail figure is read
// against them (a call that waits for another processor waits out its
// stalls).
func machineStalls(r map[string]float64, prefix string) error {
	m, err := stallprobe.Measure(machineDur)
	if err != nil {
		return fmt.Errorf("the machine's probe: %w", err)
	}
	r[prefix+"machine_stalls_20us_per_sec"] = m.Over20us
	r[prefix+"machine_lost_pct"] = m.LostPct
	return nil
}
