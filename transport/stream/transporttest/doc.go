// Package transporttest is the conformance suite every transport.Transport
// must pass: round trips at the payload-size boundaries, descriptor rules,
// concurrent senders, oversize frames, and close semantics. Transport
// packages call Run from their tests with a constructor for connected
// pairs. Fill and Pattern make its payloads; package conformance makes
// the session suite's with them too. PingPong is the transports' shared
// round-trip benchmark, against an Echo.
//
// It lives under transport/stream only because that is where it was
// written; it depends on no transport and can move to transport/ as is.
package transporttest
