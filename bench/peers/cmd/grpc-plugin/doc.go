// Command grpc-plugin is the plugin of the comparison's go-plugin gRPC peer
// (package grpcpeer): started by go-plugin's client, it serves the
// comparison's service over gRPC on a Unix socket until the host asks it to
// shut down.
//
// Lifetime and concurrency: as go-plugin's plugin.Serve, one process per
// client; calls are served concurrently.
package main
