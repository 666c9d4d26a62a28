package plugin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestHostChild: the walk up the ancestors finds the host's child on the
// plugin's line, stops at init, at a broken chain, and after maxAncestors
// steps.
func TestHostChild(t *testing.T) {
	// 50 -> 40 -> 30 -> 20 (host) -> 1
	tree := map[int]int{50: 40, 40: 30, 30: 20, 20: 1}
	parent := func(pid int) (int, error) {
		if pp, ok := tree[pid]; ok {
			return pp, nil
		}
		return 0, errors.New("no such process")
	}
	child, ok := hostChild(20, 50, parent)
	require.True(t, ok)
	require.Equal(t, 30, child)
	child, ok = hostChild(20, 30, parent)
	require.True(t, ok)
	require.Equal(t, 30, child)
	_, ok = hostChild(99, 50, parent)
	require.False(t, ok, "walked to init without meeting the host")
	_, ok = hostChild(20, 60, parent)
	require.False(t, ok, "the chain is broken")

	loop := func(pid int) (int, error) { return pid + 1, nil } // never reaches the host nor init
	calls := 0
	_, ok = hostChild(5, 10, func(pid int) (int, error) { calls++; return loop(pid) })
	require.False(t, ok)
	require.Equal(t, maxAncestors, calls, "the walk is bounded")
}

// TestCheckHostAncestor: a host further up than the parent (a wrapper
// forked the plugin) is accepted, without the parent-death signal.
func TestCheckHostAncestor(t *testing.T) {
	pp := os.Getppid()
	if pp <= 1 {
		t.Skip("this test process has no parent to stand for a wrapper")
	}
	gp, err := parentOf(pp)
	require.NoError(t, err)
	if gp < 1 {
		t.Skip("this test process has no grandparent")
	}
	lin, err := checkHost(gp)
	require.NoError(t, err)
	require.False(t, lin.direct)
}

// TestCheckHostNotAncestor: a host that is alive but not an ancestor is
// refused with a message for the plugin's author; one that is gone is
// reported as having exited.
func TestCheckHostNotAncestor(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	_, err := checkHost(cmd.Process.Pid) // alive, our child, not our ancestor
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.FailedPrecondition}), "%v", err)
	require.ErrorContains(t, err, fmt.Sprintf("does not run under its host (pid %d)", cmd.Process.Pid))
	require.ErrorContains(t, err, "sh -c 'exec ./plugin'")

	done := exec.Command("true")
	require.NoError(t, done.Run())
	_, err = checkHost(done.Process.Pid) // reaped: gone
	require.ErrorIs(t, err, errHostExited)
}
