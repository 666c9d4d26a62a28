package stallprobe

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// script is a fake clock: each reading is 100 ns after the one before,
// plus the jump scheduled for that reading (by its index); and a fake
// context-switch count that moves by the amount scheduled for each
// reading of it.
type script struct {
	t       time.Duration
	reads   int
	jumps   map[int]time.Duration
	sw      int64
	swReads int
	moves   map[int]int64
	// afterSw jumps the clock by this much on the first reading after
	// each read of the switches (a yield's time, or the read's own).
	afterSw time.Duration
	pending bool
}

func (s *script) clock() time.Duration {
	s.reads++
	s.t += 100*time.Nanosecond + s.jumps[s.reads]
	if s.pending {
		s.t += s.afterSw
		s.pending = false
	}
	return s.t
}

func (s *script) switches() int64 {
	s.swReads++
	s.sw += s.moves[s.swReads]
	s.pending = true
	return s.sw
}

// TestSpinCountsGaps: gaps of 6, 30, 150 and 25 us among 100 ns readings
// are counted by their thresholds; the 30 us one, across which the
// switch count did not move, is unseen; the others are not.
func TestSpinCountsGaps(t *testing.T) {
	s := &script{
		jumps: map[int]time.Duration{10: 6 * time.Microsecond, 20: 30 * time.Microsecond, 30: 150 * time.Microsecond, 40: 25 * time.Microsecond},
		// Switch reads: 1 at the start, then one per gap. The 6 us gap
		// (read 2) saw a switch, the 30 us one (read 3) none, the 150
		// and 25 us ones (reads 4, 5) one each.
		moves: map[int]int64{2: 1, 4: 1, 5: 2},
	}
	c := spin(s.clock, 300*time.Microsecond, s.switches, time.Hour)
	require.Equal(t, 4, c.over5)
	require.Equal(t, 3, c.over20)
	require.Equal(t, 1, c.over100)
	require.Equal(t, 1, c.unseen20, "only the 30 us gap had no switch")
	require.Equal(t, (6+30+150+25)*time.Microsecond+4*100*time.Nanosecond, c.lost)
	require.Equal(t, 150*time.Microsecond+100*time.Nanosecond, c.longest)
	require.GreaterOrEqual(t, c.spun, 300*time.Microsecond)
	require.Less(t, c.spun, 301*time.Microsecond)

	r := c.result(1, true)
	secs := c.spun.Seconds()
	require.InDelta(t, 4/secs, r.Over5us, 1e-6)
	require.InDelta(t, 1/secs, r.Unseen20us, 1e-6)
	require.InDelta(t, 100*c.lost.Seconds()/secs, r.LostPct, 1e-9)
	require.Equal(t, -1.0, c.result(1, false).Unseen20us, "unknown where switches are not read")
}

// TestSpinSkipsYieldsAndReads: the time a yield or a read of the switch
// count takes (here 1 ms each, after every 10 us of spinning) is neither a
// gap nor spinning time.
func TestSpinSkipsYieldsAndReads(t *testing.T) {
	s := &script{afterSw: time.Millisecond}
	c := spin(s.clock, time.Millisecond, s.switches, 10*time.Microsecond)
	require.Zero(t, c.over5)
	require.Zero(t, c.lost)
	require.GreaterOrEqual(t, c.spun, time.Millisecond)
	require.Less(t, c.spun, time.Millisecond+20*time.Microsecond)
	require.Greater(t, s.swReads, 90, "a yield every 10 us of 1 ms")
}

// TestMeasure: a real probe's figures are consistent with each other.
func TestMeasure(t *testing.T) {
	_, err := Measure(0)
	require.Error(t, err)
	r, err := Measure(200 * time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, min(runtime.NumCPU(), runtime.GOMAXPROCS(0)), r.Threads)
	require.GreaterOrEqual(t, r.Duration, 200*time.Millisecond)
	require.Less(t, r.Duration, 200*time.Millisecond+time.Second, "a last gap may run past the end, not a second")
	require.GreaterOrEqual(t, r.Over5us, r.Over20us)
	require.GreaterOrEqual(t, r.Over20us, r.Over100us)
	require.GreaterOrEqual(t, r.Over100us, 0.0)
	require.GreaterOrEqual(t, r.LostPct, 0.0)
	require.Less(t, r.LostPct, 100.0)
	if switchesKnown() {
		require.GreaterOrEqual(t, r.Unseen20us, 0.0)
		require.LessOrEqual(t, r.Unseen20us, r.Over20us)
	} else {
		require.Equal(t, -1.0, r.Unseen20us)
	}
}
