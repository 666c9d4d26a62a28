package session

import (
	"sync/atomic"
	"time"
)

// contention is a receiver's sense that the machine's processors are
// oversubscribed, so that a caller polling for its response only keeps the
// processor from the threads that would produce it (its peer's, or the
// kernel's placing its peer's woken thread here). A lone caller that finds
// it was off its processor for a while (offProcessor) as it polled, past
// contendProbeEvery without a response, and that the kernel took it off
// for another thread (its count of involuntary context switches moved),
// marks it (see pollCall); while it holds, callers poll only for as long
// as a hot round trip takes (callBudget, contendedSpin) and then block,
// and the response's doorbell wakes them, as a blocked socket reader is
// woken. Readers poll as before: where frames keep coming, polling pays
// whatever the load.
//
// Measured on a 2-vCPU machine beside two busy loops (BENCHMARKS.md), a
// lone caller's calls per second doubled and its p90 fell from 1.2-2.1 ms
// to 0.17-0.23 ms; idle, nothing preempts a poller for that long, and
// nothing changes.
//
// It lasts contendedFor after the last mark: a call that finds it over
// polls and probes again, and one probe costs the call that makes it a
// preemption's wait. It is the receiver's, so each link learns for itself.
type contention struct {
	on    atomic.Bool
	until atomic.Int64 // offset from monoEpoch, ns
}

// contendProbeEvery is how long a caller polls without a response before
// it reads its thread's count of involuntary context switches, which it
// reads again after a gap in its polling (see contendProbe). A read is a
// system call, about a microsecond on a virtual machine: never on a
// response that comes in time.
const contendProbeEvery = 10 * time.Microsecond

// contendedFor is how long a mark of contention holds.
const contendedFor = 50 * time.Millisecond

// holds reports whether a mark of contention holds. Its cost when none
// does is one load of a word that is written only when it changes.
func (c *contention) holds() bool {
	if !c.on.Load() {
		return false
	}
	if int64(time.Since(monoEpoch)) < c.until.Load() {
		return true
	}
	// A mark made between the load of until and this store is lost: its
	// caller's next slow call probes and marks again.
	c.on.Store(false)
	return false
}

// mark marks contention from now, an offset from monoEpoch.
func (c *contention) mark(now time.Duration) {
	c.until.Store(int64(now + contendedFor))
	c.on.Store(true)
}

// contendProbe is a polling loop's watch for preemption (see contention):
// the count of involuntary switches when the loop had waited
// contendProbeEvery, and when the loop last looked at the clock.
type contendProbe struct {
	read   bool
	count  int64
	looked time.Duration
}

// offProcessor is a gap between two of a polling loop's looks at the
// clock (64 polls apart, a microsecond or two) that says the thread was
// off its processor meanwhile: a busy loop's turn, not a moment's
// interruption by one of this process's own threads, which idle machines
// see too and which must not stop the polling.
const offProcessor = 8 * time.Microsecond

// preempted is called at each of the loop's looks: idle is its time
// without a frame, at when it looked. It reads the count of involuntary
// switches once the loop has waited contendProbeEvery, and again after a
// gap of offProcessor between two looks, and reports whether the count
// moved: the kernel gave the processor to another thread for that long.
func (p *contendProbe) preempted(idle, at time.Duration, switches func() int64) bool {
	gap := at - p.looked
	p.looked = at
	switch {
	case idle < contendProbeEvery:
		return false
	case !p.read:
		p.read, p.count = true, switches()
		return false
	case gap < offProcessor:
		return false
	}
	n := switches()
	moved := n != p.count
	p.count = n
	return moved
}
