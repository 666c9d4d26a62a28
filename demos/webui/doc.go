// Command webui is a browser client of a plexus host: a page whose Go code
// (web/, compiled to WebAssembly) calls the host over a WebSocket link
// (transport/ws), and the host runs the call through its plugin over
// shared memory. The host draws a picture into a lease, the image demo's
// plugin makes it grayscale, blurs it and halves it, and each stage
// streams back to the page as it is reported (studio.Studio's Run, a
// server stream), the last with the result as PNG.
//
// Run by you, the program is the host: it builds web/ for GOOS=js
// GOARCH=wasm into a temporary directory (a few seconds), starts itself
// again as its image plugin, and serves the page, main.wasm, wasm_exec.js
// and the /plexus endpoint on -addr until interrupted (with -once, until
// one Run has completed). Started by its host, it is the plugin.
//
// Lifetime and concurrency: one plugin for the host's life; one session per
// WebSocket link (the page is the initiator, the host the acceptor serving
// Studio), ended when the page goes or the server stops. Runs of any
// number of pages proceed concurrently, each with its own leases on the one
// plugin link. Linux only (the shared-memory link).
package main
