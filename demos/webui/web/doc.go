// Command web is the webui demo's browser client, built for GOOS=js
// GOARCH=wasm by the demo's host at start-up and loaded by its page: it
// dials the host's /plexus WebSocket endpoint (transport/ws), runs a
// session over it as the initiator, and calls studio.Studio's Run on load
// and on each click of the page's Run button, showing each step as it
// arrives and the resulting image. When a run ends it sets
// window.plexusResult to a JSON summary ({"steps", "width", "height",
// "pngBytes"}, or {"error"}) for tests to read.
//
// Lifetime and concurrency: one link and one session for the life of the
// page. Runs are serialised on the main goroutine; a click during a run is
// remembered once (the button is disabled meanwhile). Event callbacks only
// signal the main goroutine: they never block the browser's event loop.
package main
