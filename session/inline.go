package session

import (
	"sync/atomic"
	"time"
)

// A reader runs a call it received itself, instead of handing it to a
// worker, when nothing waits behind it in the ring (see pollRead), and
// also when frames do wait behind it if the call's handler is cheap
// (handlerCost.cheap): a unary handler that has recently taken at most
// inlineMaxCost to run and answer. The hand-off to a worker is a
// goroutine wake-up per call, and the worker runs on another thread, which
// spreads the serving side over every processor, where it takes them
// from the caller's side: 64 concurrent callers on the 2-vCPU machine,
// whose host is the bottleneck, made 6-19 % more calls once cheap calls
// stayed on the reader, and a third more in the machine's slower state
// (BENCHMARKS.md). A cheap handler gains nothing
// from running beside others: one link's caller side cannot open calls
// faster than one every microsecond or so, which a reader running such
// handlers in turn keeps up with.
//
// A handler that turns out slow is covered as a lone call's is: the
// frames behind it stay in the ring, where the reader that the promote
// timer starts after promoteAfter receives them (see reader.watch); the
// promote and its sampled calls mark it slow, and its calls go to workers
// again until it is cheap once more.

// inlineMaxCost is the most a call may cost (its handler, encoding and
// sending the response) to count as cheap (see handlerCost). Five times a
// hot echo's (0.3-0.4 us on the 2-vCPU machine, sampled): a handler that
// costs more starts to hold the frames behind it up for longer than a
// worker's hand-off would.
const inlineMaxCost = 2 * time.Microsecond

// costSampleEvery: one call in this many has its cost measured; two clock
// reads on every call would cost a hot call a tenth of its time on a
// virtual machine's clock.
const costSampleEvery = 8

// handlerCost is how often a handler's calls have recently cost more than
// inlineMaxCost: of its sampled calls, each weighing an eighth, in 1/1024.
// A share, not an average of times, so that one call preempted for a few
// hundred microseconds (common on a busy machine) does not move a cheap
// handler's calls back to workers; a handler that has become slow crosses
// half in six sampled calls, and back in about as many. Updated by whichever
// goroutine ran a sampled call (a lost update between two concurrent ones
// only delays the share) and by a reader's promote timer (see blocked),
// read by the dispatching goroutine.
type handlerCost struct{ slow atomic.Int32 }

// note folds one sampled call's cost in.
func (c *handlerCost) note(d time.Duration) {
	var v int32
	if d > inlineMaxCost {
		v = 1024
	}
	old := c.slow.Load()
	c.slow.Store(old + (v-old)/8)
}

// blocked notes a call of the handler that ran on a reader past
// promoteAfter (see reader.watch): it weighs as much as three slow
// samples, so that a handler whose calls block is slow from its second
// such call on, whatever its sampled calls say, while a cheap one that was
// preempted once stays cheap.
func (c *handlerCost) blocked() {
	for range 3 {
		c.note(inlineMaxCost + 1)
	}
}

// cheap reports whether a call of this handler may run on the reader
// while frames wait behind it: a unary handler whose sampled calls have
// mostly cost at most inlineMaxCost. A handler not yet sampled counts as
// cheap: its calls that block are promoted after promoteAfter and mark
// it, and its sampled calls say the rest.
func (h *handler) cheap() bool {
	return h.kind == kindUnaryHandler && h.cost.slow.Load() < 512
}

// sampleCost says whether the call being opened has its cost measured
// (dispatching goroutine; see costSampleEvery).
func (sv *server) sampleCost() bool {
	sv.opens++
	return sv.opens%costSampleEvery == 0
}
