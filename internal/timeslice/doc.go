// Package timeslice asks the kernel for a short time slice for every
// thread of the process, so that a thread woken by its peer (a plexus
// reader or caller sleeping on its doorbell) preempts a CPU-bound thread
// at once instead of waiting for that thread's slice to run out.
//
// Linux's EEVDF scheduler (6.6 and later) takes a fair-class thread's
// sched_attr.sched_runtime as the length of the slice it asks for
// (clamped to 0.1..100 ms), and from 6.12 a thread with a shorter slice
// than the running one preempts it when it wakes. The share of the CPU
// each thread gets is unchanged; only how long it may keep a processor at
// a time, and so how soon it gets one, is. Beside two busy loops on two
// processors, a lone plexus caller's p99 fell from 1.8-3.2 ms to 0.23 ms
// with a 100 us slice (BENCHMARKS.md). Older kernels accept the attribute
// and ignore it; other systems have no such attribute (Set reports
// ErrUnsupported).
//
// The slice is per thread and inherited: threads the Go runtime starts
// later get it from the thread that started them, and so do child
// processes (a plugin the host starts, but also any other program it
// runs). Set therefore sets it on every thread the process has, looking
// again until a pass finds nothing left to change, and leaves threads of
// another scheduling policy (real-time, batch, idle) alone. The kernel
// copies the attribute when a clone starts and lists the new thread only
// when it ends, so a thread being started while Set runs can be missed:
// a last pass, 2 ms later in the background, catches it.
//
// Lifetime and concurrency: Set, Ask, Get, Of and Await may be called
// from any goroutine. Sets are serialised (each with its last pass, which
// does nothing once a later Set began); the last Set's value holds.
package timeslice
