// Command peers runs the side-by-side comparison of plexus with go-plugin
// (gRPC and net/rpc) and a raw Unix socket, and prints the Markdown table
// (or, with -json, the JSON report); -out DIR also writes peers.md,
// peers.json and peers.svg into DIR. Run it from bench/peers:
//
//	go run ./cmd/peers -quick -conditions idle   # a smoke run, about a minute
//	go run ./cmd/peers -out results              # the whole comparison
//
// Flags: -rounds N (default 3; 1 with -quick), -quick, -peers
// plexus,grpc,netrpc,uds, -conditions idle,busy,alloc, -out DIR, -json,
// -bin DIR (prebuilt plugin binaries instead of building them), -timeout,
// -from peers.json (render a saved report again instead of measuring).
// It exits 1 if a measurement failed (the report lists it).
//
// The command is also its own load helper: the driver re-executes it with
// an environment marker (internal/loadgen) for the loaded conditions.
//
// Lifetime and concurrency: one run per process; it loads the whole
// machine while it runs, so nothing else should.
package main
