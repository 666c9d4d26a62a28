// Package loadgen puts a machine under load for benchmarks: two busy-loop
// processes, or two allocating multi-threaded Go programs, each a
// re-execution of the running binary. plexus bench and the comparison in
// bench/peers measure plexus beside them, as a plugin host runs beside an
// editor, a build or a server. It is Linux's, as plexus bench is.
//
// Lifetime: a binary that may be re-executed as a helper calls MaybeHelper
// first thing in main (or TestMain); a helper never returns from it. Start
// starts a condition's helpers and returns the function that stops them;
// helpers also end when their parent dies (parent-death signal, and end
// of file on their stdin) and after an hour at most.
//
// Concurrency: Start may be called from any goroutine; each stop function
// is for one goroutine, once.
package loadgen
