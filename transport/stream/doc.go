// Package stream implements transport.Transport over a byte stream (a
// Conn): a Unix socket, a TCP connection (package streamnet dials and
// listens for those), a TLS connection over TCP (package streamtls), or
// one end of a socketpair (Pair, ChildPair). Each frame is its 64-byte
// descriptor followed by exactly Length payload bytes (SPEC.md "Frames on
// stream transports"); there is no other framing and no handshake at this
// layer. It does not link package net (but on Windows, for Pair), so that
// a plugin can run it over the socket its host passed without linking net
// (DESIGN.md "Starting a plugin").
//
// Lifetime: a Transport owns its Conn from New on. Close closes it and
// is idempotent; a protocol violation from the peer closes it too, after
// which every call reports that violation. Errors are *plexus.Status:
// ErrLinkClosed after this side's Close, ErrPeerDied when the peer closed or
// reset the connection (including mid-frame), ErrProtocolViolation for a
// malformed descriptor, ResourceExhausted for an oversized Send or Alloc.
// I/O errors stay reachable with errors.Is/As through the status.
//
// Concurrency: Send, Alloc, Free, Release, MaxPayload and Close are safe
// for concurrent use; Recv must be called by one goroutine at a time. Frames
// of concurrent senders never interleave on the wire. A sender that finds
// others waiting leaves its frame in the shared write buffer for the last
// of them to write, so a burst of small frames costs about one write; a
// nil error from Send therefore means the frame is committed to the
// connection's order, not that it reached the kernel. A Send blocked
// because the peer does not read is released by Close.
//
// Memory: received payloads come from package-wide size-classed pools and
// stay valid until Release, even after Close. Alloc hands out buffers from
// the same pools; Send writes an Alloc'd buffer directly (payloads of at
// most 4 KiB, Alloc'd or not, are copied into the write buffer instead,
// which is cheaper than a separate write) and then returns it to the pool
// whether or not the send succeeded. In steady state Send, Recv and Release
// do not allocate (over TLS, crypto/tls itself allocates once per read).
package stream
