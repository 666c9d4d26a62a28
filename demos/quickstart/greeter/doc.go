// Package greeter is the README's example service; greeter_plexus.go is
// generated from it by `plexus gen`.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package greeter
