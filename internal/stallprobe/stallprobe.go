package stallprobe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Gap thresholds: a gap counts from GapMin; Gap20us is plexus's polling
// budget (a stall longer than that sends a waiting call through the
// doorbell), Gap100us a stall that shows in any tail.
const (
	GapMin   = 5 * time.Microsecond
	Gap20us  = 20 * time.Microsecond
	Gap100us = 100 * time.Microsecond
)

// yieldEvery is how long a probe goroutine spins between yields to the Go
// scheduler (see the package doc).
const yieldEvery = time.Millisecond

// Result is one Measure: rates are per second per thread, averaged over
// the threads.
type Result struct {
	Threads  int
	Duration time.Duration // the spinning time of each thread, yields excluded
	// Gaps of at least GapMin, over Gap20us and over Gap100us, a second.
	Over5us, Over20us, Over100us float64
	// Unseen20us: the gaps over 20 us across which the thread's
	// context-switch counts did not move, a second; -1 where they cannot
	// be read.
	Unseen20us float64
	// LostPct: the share of the threads' time in gaps (percent).
	LostPct float64
	// Longest gap of any thread.
	Longest time.Duration
}

// String is the one-line summary the benchmarks print.
func (r Result) String() string {
	unseen := "?" // where the switch counts cannot be read
	if r.Unseen20us >= 0 {
		unseen = fmt.Sprintf("%.0f", r.Unseen20us)
	}
	return fmt.Sprintf("lost %.1f %%, stalls over 20 us %.0f/s per thread (%s unseen), over 100 us %.0f/s",
		r.LostPct, r.Over20us, unseen, r.Over100us)
}

// counts is one thread's tally.
type counts struct {
	spun                   time.Duration
	over5, over20, over100 int
	unseen20               int
	lost, longest          time.Duration
}

// add merges c into t.
func (t *counts) add(c counts) {
	t.spun += c.spun
	t.over5 += c.over5
	t.over20 += c.over20
	t.over100 += c.over100
	t.unseen20 += c.unseen20
	t.lost += c.lost
	t.longest = max(t.longest, c.longest)
}

// Measure spins a goroutine per processor for d and reports the gaps.
func Measure(d time.Duration) (Result, error) {
	if d <= 0 {
		return Result{}, errors.New("stallprobe: the duration must be positive")
	}
	n := min(runtime.NumCPU(), runtime.GOMAXPROCS(0))
	var (
		mu    sync.Mutex
		total counts
		wg    sync.WaitGroup
	)
	known := switchesKnown()
	for range n {
		wg.Go(func() {
			c := spin(monotonic, d, switches, yieldEvery)
			mu.Lock()
			total.add(c)
			mu.Unlock()
		})
	}
	wg.Wait()
	return total.result(n, known), nil
}

// result turns n threads' tally into rates per second per thread.
func (t counts) result(n int, known bool) Result {
	r := Result{Threads: n, Duration: t.spun / time.Duration(n), Longest: t.longest, Unseen20us: -1}
	secs := t.spun.Seconds()
	if secs <= 0 {
		return r
	}
	r.Over5us = float64(t.over5) / secs
	r.Over20us = float64(t.over20) / secs
	r.Over100us = float64(t.over100) / secs
	if known {
		r.Unseen20us = float64(t.unseen20) / secs
	}
	r.LostPct = 100 * t.lost.Seconds() / secs
	return r
}

var epoch = time.Now()

// monotonic reads the monotonic clock.
func monotonic() time.Duration { return time.Since(epoch) }

// spin reads clock until it has spun for d, counting the gaps between
// readings; every yield it yields (runtime.Gosched), and the time the
// yield takes counts neither as spinning nor as a gap. sw reads the
// thread's context switches, -1 if unknown; it is read after each gap
// and each yield, never in the loop itself, and the clock is read again
// after it so that the read is not part of the next gap.
func spin(clock func() time.Duration, d time.Duration, sw func() int64, yield time.Duration) counts {
	var c counts
	base := sw()
	since := clock()
	last := since
	for c.spun+(last-since) < d {
		now := clock()
		if gap := now - last; gap >= GapMin {
			c.over5++
			c.lost += gap
			c.longest = max(c.longest, gap)
			s := sw()
			seen := s < 0 || s != base
			base = s
			if gap > Gap20us {
				c.over20++
				if !seen {
					c.unseen20++
				}
			}
			if gap > Gap100us {
				c.over100++
			}
			c.spun += now - since
			since = clock()
			now = since
		}
		last = now
		if now-since >= yield {
			c.spun += now - since
			runtime.Gosched()
			base = sw()
			since = clock()
			last = since
		}
	}
	c.spun += last - since
	return c
}
