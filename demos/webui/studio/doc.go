// Package studio is the webui demo's service: Studio, which a browser page
// calls over a WebSocket link to run the image pipeline of the image
// demo's plugin and watch its stages (studio_plexus.go is generated from
// it by `plexus gen`; step_gen.go by msgp). The package builds for the
// host (linux) and for the browser (GOOS=js GOARCH=wasm) alike.
//
// Lifetime and concurrency: the generated client may be used by any
// number of goroutines at once, as the session.Conn under it may; a
// registered implementation is called concurrently, one goroutine per
// call, and lives as long as the session that serves it. A Step's PNG
// received by the client is its own copy.
package studio
