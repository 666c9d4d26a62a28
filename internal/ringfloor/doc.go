// Package ringfloor is the yardstick of plexus's concurrent calls: the
// least a Go host with one goroutine per call can do over shared memory,
// measured on the same machine in the same run as plexus.
//
// Two rings of 64-byte cells in a memfd, each cell published by a stamp
// (as plexus's are): the host's callers push their 8-byte requests under
// one mutex, a peer process echoes each into the other ring, and one host
// goroutine polls that ring and hands each answer to its caller through
// the caller's channel. Both sides poll and never sleep, yielding their
// processor to the Go scheduler every 64 empty polls, as plexus's pollers
// do. There is nothing else: no framing, no channels' state, no flow
// control, deadlines or cancellation, no validation of what the peer
// wrote beyond the echo check. What plexus's 64 callers make per second
// against Calls' figure is the share of the machine's ceiling its session
// leaves; the rest of the ceiling is the Go scheduler's (waking and
// switching goroutines) and the processors' (the ring's cache lines
// crossing between them).
//
// It is a ceiling on an idle machine only: beside CPU-bound programs a
// design that always polls collapses whenever its poller is preempted,
// where plexus's, which stops polling then, holds steadier.
//
// The peer is the calling binary itself, re-executed: Start runs
// os.Executable() with a marker in the environment and the memfd as fd 3,
// and MaybeServe (which every binary using this package calls first thing
// in main or TestMain) turns that child into the echo peer and exits.
// Linux only; elsewhere Start returns ErrUnsupported.
//
// Lifetime: a peer serves until Peer.Close pushes its stop cell, or until
// the parent dies (the child asks for SIGKILL on parent death). Close
// waits for the child and kills it if it does not exit in time.
//
// Concurrency: Calls must not run concurrently with itself or Close on the
// same peer (it owns both rings while it runs). Distinct peers are
// independent.
package ringfloor
