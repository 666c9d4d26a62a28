// Package shm owns the shared-memory segment of one host <-> plugin link:
// a sealed memfd mapped MAP_SHARED and pre-faulted (the large slots just
// after the link is up: prefault_linux.go), holding a header, two
// descriptor rings (host->plugin, plugin->host) and one slot pool per
// sending side, plus four eventfd doorbells (data ready and space freed, per
// direction).
//
// Lifetime: the host Creates a Segment and passes Files() to the plugin
// process, which Opens it from the inherited descriptors. Each side then
// takes its Endpoint and uses it until Close. Closing unmaps the segment and
// closes the descriptors of this process only (it first stops the goroutine
// that pre-faults the large slots, within one 256 KiB chunk, and undoes
// HoldLife); the peer's mapping stays
// valid until it closes too. Views returned by Resolve and slots returned by
// Alloc are valid only until the Segment is closed.
//
// Concurrency: an Endpoint's Send, TrySend, Alloc, FreeOwn, Resolve and
// Release may be called from any number of goroutines (the ring's producer
// serialises the pushes); Recv and TryRecv from one
// goroutine at a time (not both at once). Arm, Pending, Disarm, Wait and
// Wake, with which a receiver lets one goroutine poll with TryRecv while
// another sleeps on the data doorbell, and Interrupt may be called from any
// goroutine. A Pool is safe for concurrent use by both processes. Every
// value the peer can write is copied out and validated before use; a
// violation is reported as an error wrapping ErrProtocol (by TrySend and
// TryRecv, which inline, as ring.ErrCorrupt) and breaks this link only.
//
// Waiting: nothing in this package waits without a bound. Receivers spin for
// a short time budget and then park on their doorbell; senders ring a
// doorbell only when the peer announced that it parked. SendContext and
// AllocContext also end their waits with the caller's context, and Interrupt
// ends every wait of this side at once (for whoever learns that the peer is
// gone, or closes the link). The doorbells are shared with the peer, which
// can fill their counters or make them blocking: a Bell never blocks on one
// (see Bell), and treats such tampering as a protocol violation.
//
// Assists: a goroutine with work to share (a large copy) posts it with
// Assist, and every thread of the process parked in a Bell's Wait runs it
// and sleeps again: a parked thread keeps its Go processor, which no new
// goroutine could have. The work must tolerate several runners, late ones
// included, and stop when the stop function it is given reports the
// runner's own doorbell rung. Assist and its end may be called from any
// goroutine.
//
// Death: each side has a life word in the header. HoldLife (the plugin's
// side) registers it as a robust futex of a thread that lives until Close,
// so that the kernel marks it when the process ends, however it ends;
// WatchPeerLife (the host's side) blocks one goroutine, in the futex wait,
// until the mark or Interrupt. It is an early warning only: the word is
// the peer's to write, so a mark it wrote itself is believed (only a dying
// or misbehaving peer earns that) and a word rewritten in a loop is looked
// at no more than about once per 10 ms (life_linux.go).
package shm
