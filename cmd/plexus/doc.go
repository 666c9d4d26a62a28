// Command plexus is the plexus command-line tool. It has three public
// subcommands.
//
// "plexus gen" writes the code of the //plexus:service interfaces of the
// package in the current directory (see internal/gen for what it writes).
// In a module of one's own it runs as a tool: `go get -tool
// github.com/plexus-ipc/plexus/cmd/plexus@latest`, then
// `//go:generate go tool plexus gen` in the service's package.
//
// "plexus bench [-quick] [-json]" measures the figures the
// design targets (unary latency hot and sporadic, concurrent call rate,
// stream message rate, blob bandwidth, allocations per call, idle CPU,
// start-up and crash-detection time) against real plugin processes, plus
// a raw Unix-socket ping-pong baseline, the same ping-pong in blocking
// system calls (wake_floor_p50_us: the floor under a call that has to wake
// its peer), 64 callers over internal/ringfloor's bare rings
// (ring_floor_calls_per_sec_c64: the ceiling of calls_per_sec_c64), the
// machine's own stalls (internal/stallprobe: how often a thread that
// never blocks lost its processor for over 20 us, and the share of its
// time lost, against which a tail is read) and the stream transport for
// comparison; then the hot unary call, 64 concurrent callers, the socket
// baseline, both floors and the machine's stalls again
// beside two busy-loop processes ("busy_" keys) and
// beside two allocating Go programs ("alloc_" keys), the loads of
// internal/loadgen that bench/peers uses too.
//
// "plexus inspect [-json] [-watch] [-interval 1s] [-count N] PID" shows
// the live plugin links of a host process that called host.ServeInspect:
// per client its plugin's PID and uptime, restarts and deaths, calls in
// flight each way, channels, ring fill each way, slot use per size class
// of both pools, blob buffers and the last error. It connects to the
// host's Unix socket (host.InspectPath), reads one JSON document
// (host.InspectDoc) and closes; the host answers from its own counters
// and shared memory without asking any plugin, so inspecting neither
// stops nor slows the links. -json prints the document as it came,
// indented; -watch redraws every -interval, at most -count times. The
// client side is internal/inspect.
//
// # Processes and lifetime
//
// The bench re-executes its own binary (os.Executable) as the plugin, with
// the hidden subcommand "bench-plugin -transport=shm|stream". An shm plugin
// inherits the link's six descriptors as fds 3..8 (transport/shmlink.FileCount,
// opened with OpenInherited(3, ...)); a stream plugin inherits one end of
// an AF_UNIX socketpair as fd 3. The plugin serves service "bench.Bench"
// (Echo, Sink, Blob, Block) until its session ends, which happens when the
// host closes the link or dies. Every plugin is started with
// Pdeathsig=SIGKILL and is also killed and reaped explicitly when the bench
// ends, so none outlives the host. The same binary also serves as the
// internal/udsbench echo peer, the internal/ringfloor echo peer and as the
// load helpers (udsbench.MaybeServePeer, ringfloor.MaybeServe and
// loadgen.MaybeHelper run first in main); the helpers of a loaded phase
// are stopped when it ends.
//
// # Concurrency and bounded waits
//
// Phases run one after another on one host session per plugin; only the
// c64 phase (64 goroutines calling Echo) and the crash phase (10 blocked
// callers) call concurrently. Each phase runs under a context that a
// watchdog cancels after a fixed bound, without putting a deadline on the
// wire, so no wait in the bench is unbounded and the hot path is not
// burdened by deadline propagation.
//
// The lease-based blob figures are reported from the copy path because the
// session does not expose transport-allocated buffers yet.
package main
