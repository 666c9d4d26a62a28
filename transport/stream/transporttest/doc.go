// Package transporttest is the conformance suite every transport.Transport
// must pass: round trips at the payload-size boundaries, descriptor rules,
// concurrent senders, oversize frames, and close semantics. Transport
// packages call Run from their tests with a constructor for connected
// pairs.
//
// It lives under transport/stream only because that is where it was
// written; it depends on no transport and can move to transport/ as is.
package transporttest
