// Package render declares the callbacks demo's two services: Renderer,
// which the plugin serves, and Values, which the host serves to the
// plugin on the same link. render_plexus.go is generated from them by
// `plexus gen`.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package render
