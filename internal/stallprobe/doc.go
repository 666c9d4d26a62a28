// Package stallprobe measures the machine under a benchmark: how often,
// and for how long, a thread that never blocks loses its processor.
//
// One goroutine per processor spins reading the monotonic clock; any gap
// between two readings longer than GapMin is time the thread did not run
// (an interrupt, the kernel running another thread, or, in a virtual
// machine, the hypervisor running something else in place of the
// virtual processor). Where the thread's context-switch counts can be read
// (Linux: getrusage RUSAGE_THREAD), a gap across which they did not move
// is one the guest's scheduler did not see: interrupts and the
// hypervisor's. Those are the stalls no program on the machine can avoid,
// and they bound the tail of anything that waits for another processor:
// a round trip between two polling processes that each lose their
// processor 500 times a second for 20 us misses that budget about as
// often. The comparison in bench/peers and plexus bench report the probe
// beside their latency figures, so that a tail can be read against the
// machine it was measured on.
//
// The probe's goroutines yield to the Go scheduler every millisecond
// (time it does not count), so that the runtime's own preemption of a
// long-running goroutine does not show up as a stall; with as many
// goroutines as processors and GOMAXPROCS at least that, the yield finds
// no idle P and wakes no other thread.
//
// Lifetime and concurrency: Measure blocks for its duration and keeps
// nothing afterwards; concurrent Measures compete for the processors and
// each measures the other.
package stallprobe
