// Package driver measures every peer of the comparison with the same code:
// 8-byte echo latency (p50, p90, p99), the call rate of 64 concurrent
// callers, Put and Blob throughput at 1, 16 and 64 MiB, the time from
// spawning the plugin to its first completed call, and the time from a
// kill -9 of the plugin to the error of a caller blocked in a call, each
// under three conditions (idle; beside two busy-loop processes; beside two
// allocating, multi-threaded Go programs), over several rounds interleaved
// across peers and conditions. It writes the medians with their ranges as a
// Markdown table, as JSON, and as an SVG bar chart drawn by hand.
//
// The helper processes of the loaded conditions are the running binary
// itself, re-executed with an environment marker by the main module's
// internal/loadgen (plexus bench's loads too): every binary that calls Run
// must call MaybeHelper first thing in main (or TestMain).
//
// Lifetime: Run builds the plugins into a temporary directory (unless
// Config.BinDir names prebuilt ones), and returns once every measurement
// ended, every plugin and helper process it started has exited, and the
// directory is removed. Every phase is bounded in calls and in time (the
// phase timeout), helpers exit when their stdin closes or after their own
// bound, and every child process has a parent-death signal.
//
// Concurrency: Run uses the whole machine and must not run concurrently
// with itself (nor with anything whose figures matter). A Report is plain
// data; its methods only read it.
package driver
