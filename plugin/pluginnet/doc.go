// Package pluginnet makes the Listener at which a plugin serves hosts
// that attach to it (plugin.ServeConfig.Listener, host.Config.Attach):
// a Unix socket, or TCP with TLS. It is apart from package plugin so that
// a plugin that does not listen does not link package net, which with cgo
// enabled makes a binary load the C library at every start (DESIGN.md
// "Starting a plugin"); one that listens links it through here.
//
// Lifetime: a Listener listens from Listen until Close (plugin.Run closes
// the one it serves when it stops); a Unix socket's file is removed by
// Close. Concurrency: Accept, Close and Addr are safe for concurrent use.
package pluginnet
