// Package netrpcpeer is the go-plugin net/rpc peer of the comparison: the
// host starts the plugin with hashicorp/go-plugin (ProtocolNetRPC: the
// handshake line on stdout, then net/rpc with gob encoding over yamux
// streams on a Unix socket) and calls the service through the *rpc.Client
// go-plugin hands to the Plugin's Client method. The net/rpc service and
// go-plugin's Plugin interface are written by hand.
//
// net/rpc has no context: a call's context is honoured on the host's side
// only (the caller stops waiting; the plugin's handler runs on), and Block
// in the plugin waits for peers.BlockBound, or until the plugin is killed.
//
// Lifetime: Peer.Start returns a Conn around one plugin.Client; Close is
// plugin.Client.Kill (Control.Quit, SIGKILL after 2 s), then removes the
// directory that held the plugin's socket (a plugin killed with SIGKILL
// leaves its socket file behind). The plugin is started with a parent-death
// signal. Serve is the plugin binary's main and does not return.
//
// Concurrency: a Conn is safe for concurrent use (rpc.Client multiplexes
// calls on one yamux stream); net/rpc serves each call on a goroutine of
// its own.
package netrpcpeer
