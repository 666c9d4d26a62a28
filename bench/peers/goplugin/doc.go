// Package goplugin starts a plugin process through hashicorp/go-plugin the
// way both go-plugin peers (gRPC and net/rpc) need it: its socket in a
// directory of its own, killed with the host, and the dispensed plugin
// handed back with what its Close must undo.
//
// Lifetime and concurrency: Start returns a Process that owns the plugin
// process until Close; a Process is used by one goroutine at a time, except
// Pid, which any may call.
package goplugin
