//go:build linux

// Command calculator is plexus's main demo: a host starts a calculator
// plugin (this same binary, re-executed in plugin mode), links it over
// shared memory, and calls it: unary calls, a typed application error, a
// server stream, a client stream and a bidirectional stream.
//
//	go run ./demos/calculator
//
// The service is the Go interface calc.Calculator; calc/calc_plexus.go is
// generated from it by `plexus gen` (go generate ./demos/calculator/calc).
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
