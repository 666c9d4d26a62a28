// Package plexuspeer is the plexus peer of the comparison: the host starts
// the plugin with host.Client (memfd segment, spawn, handshake on the control
// socket) and calls it over shared memory; the plugin serves with
// plugin.Serve (package plexusplugin, which the plugin binary imports
// alone). The service is declared by hand (plugin.Service with a
// handler per method, requests and responses as plexus.Raw bytes), the way
// plexus bench declares its own, so no generated code is involved.
//
// Lifetime: Peer.Start returns a Conn around one host.Client, with restarts
// disabled: once the plugin died, every call fails with plexus's PeerDied
// status. Close is host.Client.Close (GoAway, drain, exit; signals after the
// grace period).
//
// Concurrency: a Conn is safe for concurrent use, as host.Client is; calls
// run concurrently on the link. The plugin's handlers run one goroutine per
// call.
package plexuspeer
