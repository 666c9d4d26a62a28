// Package transport is the contract between the session layer and what
// carries its frames: the Frame (a 64-byte descriptor from package wire and
// its payload), the Transport interface that every carrier implements
// (shared memory in transport/shmlink, Unix and TCP sockets in
// transport/stream, goroutines in transport/inproc), and the optional
// interfaces a carrier may add: Poller, for a receive side that can be
// polled without blocking, and ContextSender, for sends that may wait.
//
// The session is written against these interfaces only; a new carrier (a
// WebSocket, say) implements Transport and passes the conformance suite in
// package conformance.
//
// Lifetime and concurrency: the package holds only types and interfaces.
// What each method may be called concurrently with is stated on the
// interface; a Frame belongs to one goroutine at a time, and its Payload to
// the transport from Recv until Release.
package transport
