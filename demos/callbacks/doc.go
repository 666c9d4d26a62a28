//go:build linux

// Command callbacks shows calls in both directions on one link: the host
// asks a template-rendering plugin to render, and the plugin calls back
// into the host for each value the template needs while it renders. No
// second connection is involved; the callbacks run while the host's own
// call is waiting.
//
//	go run ./demos/callbacks
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
