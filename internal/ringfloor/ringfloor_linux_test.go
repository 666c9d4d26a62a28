package ringfloor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCalls(t *testing.T) {
	p, err := Start()
	require.NoError(t, err)
	rate, err := p.Calls(8, 100*time.Millisecond)
	require.NoError(t, err)
	require.Greater(t, rate, 0.0)
	// A second run on the same peer goes on where the first left the rings.
	rate, err = p.Calls(MaxCallers, 50*time.Millisecond)
	require.NoError(t, err)
	require.Greater(t, rate, 0.0)
	require.NoError(t, p.Close())
	select {
	case <-p.exited:
	default:
		t.Fatal("Close returned before the peer exited")
	}
	require.NoError(t, p.waitErr, "the peer exits cleanly at the stop cell")
}

func TestDetectsBadEcho(t *testing.T) {
	p, err := start(50) // the 50th answer is corrupted
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Calls(4, 2*time.Second)
	require.ErrorContains(t, err, "echo")
}

func TestCallersBounded(t *testing.T) {
	p, err := Start()
	require.NoError(t, err)
	defer p.Close()
	for _, n := range []int{0, MaxCallers + 1} {
		_, err := p.Calls(n, time.Millisecond)
		require.ErrorContains(t, err, "callers", "%d callers", n)
	}
}

func TestPeerDeathFailsCalls(t *testing.T) {
	p, err := Start()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.exited
	t0 := time.Now()
	_, err = p.Calls(4, time.Minute)
	require.ErrorContains(t, err, "peer exited")
	require.Less(t, time.Since(t0), answerWait, "the dead peer is noticed at once, not at the run's end")
	require.Error(t, p.Close(), "Close reports the killed peer")
}
