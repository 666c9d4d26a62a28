//go:build linux

// Command crash shows what a host sees when its plugin crashes: every
// call in flight fails at once with the PEER_DIED status, the plugin's
// panic reaches the host's log, the host restarts the plugin after a
// short backoff, and the next call goes to the new process.
//
//	go run ./demos/crash
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
