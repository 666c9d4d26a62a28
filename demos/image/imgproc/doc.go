// Package imgproc is the image demo's service: the Processor interface
// (imgproc_plexus.go is generated from it by `plexus gen`), the layout of
// its messages, and the image operations the plugin runs.
//
// A message is one image buffer with a small header in front, so that it
// can be a *session.Lease on its own: a lease crosses without a copy only
// as a whole message, never beside other arguments.
//
// Lifetime and concurrency: everything here but the generated client is
// pure and safe for concurrent use. The generated client may be used by any
// number of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package imgproc
