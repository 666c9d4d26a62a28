//go:build linux

// Command quickstart is the README's example, whole: a service
// interface (package greeter), its plugin and its host. The same binary
// is both: started by the host, it serves.
//
//	go run ./demos/quickstart
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
