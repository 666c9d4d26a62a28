// Package ws implements transport.Transport over a WebSocket, for links
// that must cross what only lets HTTP through, and for browsers: its client
// side builds for GOOS=js GOARCH=wasm, where it dials through the browser's
// WebSocket. It is built on github.com/coder/websocket (context on every
// call, no dependencies, a client that compiles to WebAssembly).
//
// # Wire
//
// Each frame is one binary WebSocket message: the 64-byte descriptor
// followed by exactly Length payload bytes, the descriptor's payload fields
// as on stream transports (SPEC.md "Frames on stream transports": INLINE,
// SLOT, BLOB, bit 3, the reserved field and bytes 36..63 are zero). The
// receiver makes transport/stream's checks, in its order, before it
// allocates anything for the payload, and one more, since a message has a
// size of its own: the descriptor's length must equal the message's payload
// size. Each failure is a protocol violation: the receiver closes the
// connection with a close frame whose code and reason say what was wrong,
// and Recv reports ErrProtocolViolation:
//
//   - a text message: 1003 (unsupported data);
//   - a message shorter than a descriptor, reserved bits, a transport flag,
//     nonzero bytes 36..63, or a length that disagrees with the message's
//     size: 1008 (policy violation);
//   - a length above MaxPayload, or a message above one descriptor plus
//     MaxPayload bytes: 1009 (message too big). The receiver reads at most
//     one byte past that limit, whatever the message's size.
//
// Both ends require the subprotocol "plexus.v1" (Subprotocol): Handler
// refuses an upgrade that does not offer it with 400 Bad Request, and Dial
// refuses a server that does not select it. There is no other handshake at
// this layer, and, as on stream transports, MaxPayload is not negotiated:
// both ends must be configured alike.
//
// # Ends
//
// Handler (not in the browser) upgrades HTTP requests and hands each link to
// a callback, typically one that starts a session over it. It checks the
// Origin header: only the server's own origin and those HandlerConfig's
// OriginPatterns list may connect; others get 403 Forbidden, and the links
// already accepted are not disturbed. TLS is the http.Server's. Dial
// connects, with an HTTP client and header of the caller's choosing outside
// the browser. New wraps a *websocket.Conn accepted or dialed some other
// way; it does not check the subprotocol, which its caller negotiated.
//
// # Errors
//
// Errors are *plexus.Status, mapped as transport/stream maps them:
// ErrLinkClosed after this side's Close; ErrPeerDied when the peer closed
// the connection (its close code and reason are in the message) or it
// failed, or when a write outlasted Config.WriteTimeout; ErrProtocolViolation
// for a malformed message; ResourceExhausted for a Send or Alloc above
// MaxPayload; InvalidArgument for a descriptor with reserved bits. I/O
// errors stay reachable with errors.Is/As through the status.
//
// # Lifetime
//
// A Transport owns its connection from New (or Handler, or Dial) on. Close
// sends a normal close frame and waits up to Config.CloseTimeout (1 s by
// default) for the peer's answer, then closes the connection, cutting it
// if the peer did not answer; it is idempotent, and a blocked Recv or Send
// has returned ErrLinkClosed by the time it returns. A protocol violation
// starts the same teardown with its own close code and reason, and a write
// timeout cuts the connection at once (a peer that does not read cannot
// read a close frame either); later calls report why. The context Handler
// passes to its callback is done once the Transport is torn down.
//
// Handler and Dial keep the network connection under the WebSocket, so a
// teardown never takes longer than CloseTimeout. A Transport from New has
// only the library's own bounds: 5 s to write the close frame and 5 s for
// the answer, and a peer that stops in the middle of a frame holds the
// library's close until the connection dies. Prefer Handler and Dial.
//
// # Concurrency
//
// Send, SendContext, Alloc, Free, Release, MaxPayload and Close are safe
// for concurrent use; Recv must be called by one goroutine at a time.
// Senders take turns: one message is written at a time, so frames never
// interleave, and nothing is queued in memory; a sender waits for its turn
// and then for the connection to take its whole message. The wait for the
// turn ends with SendContext's context (DEADLINE_EXCEEDED or CANCELED,
// nothing sent, the link intact: the Transport is a
// transport.ContextSender); the write itself is bounded by
// Config.WriteTimeout (30 s by default), after which the peer is taken for
// dead: a WebSocket message abandoned halfway cannot be taken back. So a
// client that stops reading holds a sender for at most WriteTimeout, and
// the memory behind the link is bounded by the kernel's socket buffers
// plus one message per waiting sender.
//
// In the browser a write never waits: the browser's WebSocket queues it
// without bound (the session's flow-control windows still bound what is in
// flight), and Close's handshake is bounded by the browser.
//
// # Memory
//
// Received payloads come from the socket transports' size-classed pools
// (transport/internal/bufpool) and stay valid until Release, even after
// Close. Alloc hands out buffers from the same pools; Send writes an
// Alloc'd buffer and returns it to the pool whether or not the send
// succeeded. A payload of up to 16 KiB is copied behind its descriptor and
// written as one WebSocket frame; a larger one is written from where it
// lies, as a message of three frames. In steady state Send, Recv and
// Release of a Transport from Handler or Dial do not allocate; one from
// New costs the library a context.AfterFunc per read and write, since its
// context is then the only way to interrupt them.
package ws
