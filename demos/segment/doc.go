//go:build linux

// Command segment is the foundation demo: a host process creates a
// shared-memory segment, starts a second process (this same binary) with
// the segment's descriptors inherited, and the two exchange messages and
// blobs through the rings and slot pools, with no socket on the data path.
//
//	go run ./demos/segment
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
