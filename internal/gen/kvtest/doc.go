// Package kvtest is a service for the generator's tests: store_plexus.go
// is generated from it (and compared with the generator's output by the
// golden test), and store_test.go calls it through a real session.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package kvtest
