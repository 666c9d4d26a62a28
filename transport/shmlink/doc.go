// Package shm implements transport.Transport over a shared-memory segment
// (package github.com/plexus-ipc/plexus/shm) plus an AF_UNIX SOCK_SEQPACKET
// control socket. Descriptors travel in the segment's rings; payloads of up
// to 28 bytes travel inline in the descriptor, larger ones in a slot of the
// sender's pool (the receiver reads them where they lie), and payloads
// larger than the largest slot class (or above 64 KiB when no slot of
// their size is free: the largest slots are few) in a memfd outside the
// segment (a blob): usually one of the sender's recycled blob buffers, whose
// descriptor crosses the control socket only the first time and which the
// receiver's Release hands back to the sender (Config.BlobCache bounds
// them), otherwise a sealed memfd of its own. The control socket also
// tells each side when the other is gone: the kernel closes it when a
// process dies, however it dies. DESIGN.md "Shared-memory transport"
// specifies the blob descriptor, the control messages, the blob buffers'
// protocol and the descriptor order a plugin inherits.
//
// The Transport follows the stream and in-process transports' rules so that
// the session layer sees the same thing on every transport: Send clears
// INLINE and SLOT and bytes 36..63 of the caller's descriptor and sets
// Length; payloads above MaxPayload are refused with ResourceExhausted and
// reserved descriptor bits (2-3) with InvalidArgument; a received frame's
// descriptor has its transport bits (0-3) and bytes 36..63 cleared, and
// Length is the payload length.
//
// Lifetime: the host makes a Link (segment plus control socketpair), hands
// PluginFiles to the plugin process and takes its own Transport; the plugin
// calls OpenInherited. Pair wires both ends inside one process. A Transport
// owns its segment and control socket. Close is idempotent: it closes the
// control socket (the peer then gets ErrPeerDied, after the frames already
// sent) and makes this side's calls fail with ErrLinkClosed, waking any that
// wait. The segment is unmapped only once nothing can touch it any more: no
// goroutine inside Send, Recv or Alloc, no received slot payload that has
// not been Released, and no slot from Alloc that has not gone through Send
// or Free. Until then it stays mapped, so a frame Released after Close is
// safe (and still frees its slot). Blob buffers are separate mappings
// that each side keeps for reuse until Close; Close drops them, except a
// received view not yet Released (unmapped by Release) and a buffer from
// Alloc not yet through Send or Free (dropped by them). A one-shot blob is
// unmapped by Release (received) or by Send and Free (from Alloc), whether
// or not the link is still open.
//
// Death: a goroutine per Transport reads the control socket. End of file or
// an error there means the peer is gone. The host learns it sooner: the
// plugin's side holds its life word in the segment (shm.Endpoint.HoldLife),
// which the kernel marks as soon as it starts to end the plugin's process,
// before it unmaps that process's memory and closes its descriptors, and a
// second goroutine of the host's Transport waits on it (faults.watchPeerLife;
// Close waits for it to return). Either way the Transport then wakes every
// waiting Recv, Send and Alloc at once (they report ErrPeerDied), and Recv
// first returns the frames the peer sent before it went. A violation of the
// protocol by the peer (a bad descriptor, slot reference, blob or control
// message, or corrupt shared bookkeeping) is reported as
// ErrProtocolViolation and breaks the link: later calls report the same
// error and the control socket is shut down so that the peer learns of it.
//
// Concurrency: Send, Alloc, Free, Release, MaxPayload and Close are safe for
// concurrent use; Recv and TryRecv, which take frames from one batch, must
// be called by one goroutine at a time (transport.Poller says which of its
// other methods may be called from any goroutine). Frames sent by one
// goroutine arrive in order. Release may be called from any goroutine and in
// any order. Send and Alloc wait for ring space and free slots, which is the
// link's backpressure: a receiver that holds frames without releasing them
// eventually makes the sender's Alloc fail with ResourceExhausted. Each wait
// is bounded by the segment's shm.Config.Wait, and by the caller's context
// through SendContext and AllocContext (transport.ContextSender, which the
// session uses); goroutines wait for slots one at a time, so one may wait up
// to twice that (once for its turn).
//
// Bounds on what the peer can make this side hold: blob descriptors
// passed and not yet claimed (Config.MaxPendingBlobs), bytes of one-shot
// blobs mapped (Config.MaxBlobMemory), the peer's buffers mapped (the
// larger of Config.BlobCache and its default), and no page the peer did
// not allocate itself (a memfd with holes is a violation).
//
// Waiting: an idle Recv is parked on an eventfd and wakes at most once a
// minute by itself; the peer rings only when it sees this side parked.
package shmlink

// The code is split by concern; the types the Transport delegates to
// (linkState, control, blobs) are values in it, not pointers, so that the
// hot paths pay no indirection for the split:
//
//   - transport_linux.go: the Transport, Alloc and Free, Close.
//   - faults_linux.go: faults, the one mapping from segment errors to
//     statuses (segErr), breaking the link (fail, violate), and the
//     watch of the plugin's life word.
//   - send_linux.go: Send: a payload inline, by slot reference or in a
//     blob, and the descriptor into the ring.
//   - recv_linux.go: TryRecv, the one receive path (Recv is TryRecv and a
//     wait on the doorbell), Release, and the other transport.Poller
//     methods.
//   - state_linux.go: linkState, the lifetime: references that keep the
//     segment mapped, Close, the fault that broke the link.
//   - control_linux.go: control, the control socket: its messages, the
//     monitor goroutine that reads it and reports the peer's death.
//   - blob_linux.go: blobs, every payload above the largest slot class
//     (leases out with the caller, one-shot blobs both ways);
//     blob_cache_linux.go its recycled buffers (sending side),
//     blob_peer_linux.go the peer's buffers mapped here (receiving side).
//   - sealed_linux.go: the process-wide registry of sealed memory (Seal,
//     and received one-shot blobs) that any link sends by reference.
//   - cells_linux.go: the arenas of inline payloads; config_linux.go and
//     link_linux.go: Config, and setting a link up.
