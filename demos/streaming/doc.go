//go:build linux

// Command streaming shows server, client and bidirectional streams
// between a host and a plugin over shared memory, and flow control: a
// consumer that stops reading holds back only its own stream's producer
// (by its channel window), while the other streams on the same link run
// at full speed.
//
//	go run ./demos/streaming
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
