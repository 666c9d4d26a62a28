// Package grpcpeer is the go-plugin gRPC peer of the comparison: the host
// starts the plugin with hashicorp/go-plugin (ProtocolGRPC: go-plugin's
// handshake line on stdout, then gRPC over a Unix socket in a temporary
// directory) and calls the service through the *grpc.ClientConn go-plugin
// dials. The gRPC service is written by hand, with no protoc and no
// generated code: a grpc.ServiceDesc whose handlers decode with a codec
// registered under the content-subtype "peersraw", whose messages are raw
// []byte (Marshal hands the slice to gRPC without a copy, Unmarshal copies
// the received buffers into one new slice). go-plugin's own services
// (health, broker, stdio, controller) keep the protobuf codec.
//
// Message size limits are raised to peers.MaxBlob on both sides (gRPC's
// default receive limit is 4 MiB); everything else is go-plugin's and
// gRPC's default, as a go-plugin user gets it.
//
// Lifetime: Peer.Start returns a Conn around one plugin.Client; Close is
// plugin.Client.Kill (graceful shutdown through go-plugin's controller,
// SIGKILL after 2 s), then removes the directory that held the plugin's
// socket (a plugin killed with SIGKILL leaves its socket file behind). The
// plugin is started with a parent-death signal, so it does not outlive a
// driver that dies. Serve is the plugin binary's main and does not return.
//
// Concurrency: a Conn is safe for concurrent use (gRPC multiplexes calls on
// its HTTP/2 connection); the plugin serves each call on a goroutine of its
// own. The codec is stateless.
package grpcpeer
