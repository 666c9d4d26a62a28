// Package streamtls runs package stream's links over TLS: Dial and Listen
// for stream transports over TCP, and Server, the wrapper that a
// listening plugin's pluginnet.Listen takes.
//
// It is a package of its own so that packages stream and plugin, which
// every plugin links, do not link crypto/tls: its initialization alone
// added 1.0-1.4 ms to every plugin's start, TLS or not (DESIGN.md
// "Starting a plugin"). Its tests are package stream's (the conformance
// suite over TLS, a listener that skips a failed handshake), which need
// that package's test helpers.
//
// Lifetime and concurrency: as packages stream's and streamnet's. Dial returns a link
// whose TLS handshake is complete; a Listener's Accept completes each
// link's handshake before returning it, within 10 s, skipping clients that
// fail it. The *tls.Config passed in must not be modified afterwards, as
// crypto/tls requires.
package streamtls
