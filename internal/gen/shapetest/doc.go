// Package shapetest is the generator's golden package for every method
// shape (unary, server, client and bidirectional streaming, notification)
// and every argument and result type it supports. shapes_plexus.go is
// generated from it and compared with the generator's output; the tests
// run every method over the in-process, socket and shared-memory
// transports.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package shapetest
