//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/internal/loadgen"
	"github.com/plexus-ipc/plexus/internal/timeslice"
	"github.com/plexus-ipc/plexus/internal/udsbench"
)

// The busy-machine figures: the hot unary call, its Unix-socket baseline
// and 64 concurrent callers, measured again beside each load of
// internal/loadgen (the same as bench/peers'), with the load helpers
// started before and stopped after each condition.

// loadKeys are the figures of one loaded condition, prefixed with its
// name.
var loadKeys = []string{"unary_p50_us", "unary_p99_us", "calls_per_sec_c64", "uds_pingpong_p50_us", "uds_pingpong_p99_us", "wake_floor_p50_us", "ring_floor_calls_per_sec_c64",
	"machine_stalls_20us_per_sec", "machine_lost_pct"}

// loadedConditions are the loaded conditions, in their order.
var loadedConditions = []string{loadgen.Busy, loadgen.Alloc}

func init() {
	for _, cond := range loadedConditions {
		for _, k := range loadKeys {
			Keys = append(Keys, cond+"_"+k)
		}
	}
}

// underLoad measures cond's figures into r: the socket baseline first,
// then the shared-memory plugin p, beside the same helpers.
func underLoad(ctx context.Context, p *peer, cond string, cfg benchConfig, r map[string]float64) (err error) {
	stop, err := loadgen.Start(cond)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	// The baselines are plain programs: this process measures them with
	// the kernel's default time slice, not the short one its plexus host
	// asked for (host.Config.TimeSlice), which it asks for again after.
	if err := timeslice.Set(0); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
		return err
	}
	uds, err := udsbench.StartPeer()
	if err != nil {
		return fmt.Errorf("uds peer: %w", err)
	}
	lat := make([]time.Duration, cfg.HotN)
	perr := udsbench.PingPong(uds.Conn, cfg.HotN, lat)
	if err := errors.Join(perr, uds.Close()); err != nil {
		return fmt.Errorf("uds ping-pong: %w", err)
	}
	r[cond+"_uds_pingpong_p50_us"] = us(udsbench.Percentile(lat, 50))
	r[cond+"_uds_pingpong_p99_us"] = us(udsbench.Percentile(lat, 99))
	if r[cond+"_wake_floor_p50_us"], err = wakeFloor(cfg.HotN); err != nil {
		return err
	}
	if err := timeslice.Set(timeslice.Default); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
		return err
	}
	// The ring's ceiling with plexus's own time slice: it stands for what
	// plexus could make of the same share of the processors.
	if r[cond+"_ring_floor_calls_per_sec_c64"], err = ringFloor(cfg.C64Dur); err != nil {
		return err
	}
	if err := machineStalls(r, cond+"_"); err != nil {
		return err
	}
	if _, _, err := latencies(ctx, p.s, min(1000, cfg.HotN), 0); err != nil {
		return err
	}
	if r[cond+"_unary_p50_us"], r[cond+"_unary_p99_us"], err = latencies(ctx, p.s, cfg.HotN, 0); err != nil {
		return err
	}
	r[cond+"_calls_per_sec_c64"], err = concurrent(ctx, p.s, 64, cfg.C64Dur)
	return err
}

// loadTargets are the busy-machine targets, each against the idle figure
// or the socket's of the same condition.
func loadTargets() []target {
	return []target{
		{"busy_unary_p50_us", "unary p50, busy loops (us)", "-", "", nil},
		{"busy_unary_p99_us", "unary p99, busy loops (us)", "<= 2x idle", "",
			func(v float64, r map[string]float64) bool { return v <= 2*r["unary_hot_p99_us"] }},
		{"busy_calls_per_sec_c64", "calls/s, 64 callers, busy loops", ">= 0.75x idle", "",
			func(v float64, r map[string]float64) bool { return v >= 0.75*r["calls_per_sec_c64"] }},
		{"busy_uds_pingpong_p50_us", "UDS ping-pong p50, busy loops (us)", "-", "(baseline)", nil},
		{"busy_uds_pingpong_p99_us", "UDS ping-pong p99, busy loops (us)", "-", "(baseline)", nil},
		{"busy_wake_floor_p50_us", "blocking ping-pong p50, busy loops (us)", "-", "(floor)", nil},
		{"busy_ring_floor_calls_per_sec_c64", "bare ring, 64 callers, busy loops (calls/s)", "-", "(ceiling)", nil},
		{"busy_machine_stalls_20us_per_sec", "stalls over 20 us of a spinning thread, busy loops (1/s)", "-", "(the machine's)", nil},
		{"busy_machine_lost_pct", "time a spinning thread lost, busy loops (%)", "-", "(the machine's)", nil},
		{"alloc_unary_p50_us", "unary p50, allocating programs (us)", "<= 5", "",
			func(v float64, _ map[string]float64) bool { return v <= 5 }},
		{"alloc_unary_p99_us", "unary p99, allocating programs (us)", "<= 200", "",
			func(v float64, _ map[string]float64) bool { return v <= 200 }},
		{"alloc_calls_per_sec_c64", "calls/s, 64 callers, allocating programs", ">= 0.5x idle", "",
			func(v float64, r map[string]float64) bool { return v >= 0.5*r["calls_per_sec_c64"] }},
		{"alloc_uds_pingpong_p50_us", "UDS ping-pong p50, allocating programs (us)", "-", "(baseline)", nil},
		{"alloc_uds_pingpong_p99_us", "UDS ping-pong p99, allocating programs (us)", "-", "(baseline)", nil},
		{"alloc_wake_floor_p50_us", "blocking ping-pong p50, allocating programs (us)", "-", "(floor)", nil},
		{"alloc_ring_floor_calls_per_sec_c64", "bare ring, 64 callers, allocating programs (calls/s)", "-", "(ceiling)", nil},
		{"alloc_machine_stalls_20us_per_sec", "stalls over 20 us of a spinning thread, allocating programs (1/s)", "-", "(the machine's)", nil},
		{"alloc_machine_lost_pct", "time a spinning thread lost, allocating programs (%)", "-", "(the machine's)", nil},
	}
}
