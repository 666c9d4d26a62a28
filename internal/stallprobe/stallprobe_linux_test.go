package stallprobe

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMeasureSeesBusyProcesses: with two busy-loop processes per
// processor beside it, each probe thread shares its processor with them
// and loses most of its time, in gaps the guest's scheduler made (its
// context-switch counts moved), not unseen ones. (Two per processor, not
// one per probe thread: GOMAXPROCS may be below the processors' count.)
func TestMeasureSeesBusyProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 2 * runtime.NumCPU()
	for range n {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "while :; do :; done")
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	time.Sleep(50 * time.Millisecond) // let them reach their loops
	r, err := Measure(500 * time.Millisecond)
	require.NoError(t, err)
	t.Logf("beside %d busy loops: %+v", n, r)
	require.Greater(t, r.LostPct, 20.0, "a processor shared with a busy loop")
	require.Greater(t, r.Over100us, 0.0)
	require.Greater(t, r.Over20us-r.Unseen20us, 0.0, "the guest's scheduler switched the threads")
}
