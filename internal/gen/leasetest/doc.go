// Package leasetest is the generator's golden package for leases
// (*session.Lease) as whole arguments, results, notifications and stream
// messages. blobs_plexus.go is generated from it and compared with the
// generator's output; the tests send leases of up to 8 MiB both ways over
// the in-process, socket and shared-memory transports, and on shared
// memory check where the received bytes lie.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package leasetest
