//go:build linux

package main

import (
	"os"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/loadgen"
	"github.com/plexus-ipc/plexus/internal/ringfloor"
	"github.com/plexus-ipc/plexus/internal/udsbench"
)

// TestMain lets the test binary be the bench's plugin and its UDS peer:
// the bench re-executes os.Executable(), which is this binary.
func TestMain(m *testing.M) {
	loadgen.MaybeHelper()
	udsbench.MaybeServePeer()
	ringfloor.MaybeServe()
	if os.Getenv(pluginEnv) != "" || (len(os.Args) > 1 && os.Args[1] == "bench-plugin") {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBenchQuickTiny(t *testing.T) {
	if raceEnabled {
		t.Skip("runs in test.sh's last stage, without the race detector (race_test.go)")
	}
	cfg := benchConfig{HotN: 200, SporadicN: 20, AllocN: 200, Blob1N: 2, Blob64N: 1,
		Blob64Size: 4 << 20, BigRounds: 2, C64Dur: 100 * time.Millisecond, StreamDur: 100 * time.Millisecond,
		IdleDur: 200 * time.Millisecond, PhaseTimeout: 10 * time.Second}
	res, err := runBench(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mayBeZero := map[string]bool{"allocs_per_call": true, "idle_cpu_pct": true}
	for _, k := range Keys {
		v, ok := res[k]
		switch {
		case !ok:
			t.Errorf("missing %s", k)
		case v < 0 || (!mayBeZero[k] && v <= 0):
			t.Errorf("%s = %v, want > 0", k, v)
		}
	}
	if len(res) != len(Keys) {
		t.Errorf("got %d figures, want exactly %d", len(res), len(Keys))
	}
}
