// Package demoutil is the scaffolding the demos under demos/ share, so that
// each demo's files show only what the demo is about. Every demo is one
// program that is both the host and the plugin (see demos/README.md): Main
// and ServeIfPlugin pick the part, Start starts the program again as a
// host's plugin, Logger and Close are the host's log and its last step, and
// LockedWriter lets the host's log and a demo's own lines share an output.
//
// The package is not an API: a program of your own writes these few lines
// itself (demos/quickstart shows them all in one file).
//
// Concurrency: LockedWriter is safe for concurrent use; the functions keep
// no state.
package demoutil
