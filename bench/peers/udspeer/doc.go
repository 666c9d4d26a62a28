// Package udspeer is the comparison's baseline: the same service over a bare
// Unix stream socket, with the least protocol that carries it. The host
// creates a socketpair and starts the plugin with its end as fd 3; a call is
// a 16-byte header (operation, payload length) and the payload, written with
// one write (writev for large payloads), and the answer is a 16-byte header
// (status, length) and the payload, read straight into the caller's new
// slice. No multiplexing: the socket carries one call at a time, so
// concurrent callers take turns (a mutex), and the 64-caller figure is the
// ping-pong's rate, not a pipelined one.
//
// A context ends a call by setting a past deadline on the socket, after
// which the conversation is out of step and the Conn fails every later call;
// Block in the plugin waits until the socket closes or peers.BlockBound, and
// the plugin then exits.
//
// Lifetime: Peer.Start returns a Conn around one child process and its
// socket; Close closes the socket (the plugin exits at end of file), waits
// up to 2 s for the process, then kills it. The plugin is started with a
// parent-death signal. Serve is the plugin binary's main and does not return.
//
// Concurrency: a Conn is safe for concurrent use; calls are serialised. The
// plugin serves calls one at a time, in order.
package udspeer
