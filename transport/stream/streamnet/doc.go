// Package streamnet dials and listens for package stream's links over
// package net: Unix sockets and TCP (package streamtls adds TLS on top).
// It is apart from package stream so that stream itself does not link
// net: a plugin, which runs stream over the socket its host hands it,
// must not (DESIGN.md "Starting a plugin"). Its tests are package
// stream's (the conformance suite over Unix sockets and TCP, the network
// checks), which need that package's test helpers.
//
// Lifetime: a Listener owns its net.Listener from NewListener or Listen
// on; Close closes it, and links already accepted are unaffected. Every
// Transport it returns is the caller's. Concurrency: a Listener is safe
// for concurrent use.
package streamnet
