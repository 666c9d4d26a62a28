// Package inproc implements transport.Transport between two goroutines of one
// process: each direction is a bounded queue of frames, and a payload moves
// by reference, so the only copy is Send's copy of a caller-owned payload
// into a pooled buffer (an Alloc'd buffer is handed over as it is).
//
// It follows the stream transports' rules so that the session layer sees
// the same thing on every transport: Send clears the INLINE and SLOT flags
// and bytes 36..63 of the descriptor and sets Length; payloads above
// MaxPayload are refused with ResourceExhausted and reserved descriptor bits
// with InvalidArgument.
//
// Lifetime: Pipe returns both ends. Close of one end is idempotent; after it
// that end's calls fail with ErrLinkClosed, while the other end first
// receives every frame sent before the Close and then gets ErrPeerDied, as a
// socket reader gets the bytes before the EOF. Frames still queued when both
// ends are closed are left to the garbage collector.
//
// Concurrency: Send, Alloc, Free, Release, MaxPayload and Close are safe
// for concurrent use; Recv must be called by one goroutine at a time. Frames
// of one sender arrive in order. A Send that finds the queue full blocks
// until the peer receives or either end closes. Received payloads stay valid
// until Release, even after Close.
package inproc
