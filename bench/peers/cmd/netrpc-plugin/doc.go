// Command netrpc-plugin is the plugin of the comparison's go-plugin net/rpc
// peer (package netrpcpeer): started by go-plugin's client, it serves the
// comparison's service with net/rpc over yamux on a Unix socket until the
// host asks it to quit.
//
// Lifetime and concurrency: as go-plugin's plugin.Serve, one process per
// client; calls are served concurrently.
package main
