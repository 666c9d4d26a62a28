// Package gen is the code generator behind `plexus gen`: it reads a Go
// package, finds the interfaces marked as services, and writes the typed
// client, the server registration and the argument and result codecs for
// each of their methods.
//
// A service is an interface whose doc comment has a line
// "//plexus:service" (optionally "//plexus:service name=pkg.Name" to
// choose the name it is served under; the default is the package name, a
// dot and the interface name). Each method takes a context.Context first
// and returns an error last; its other parameters and results may be of
// the types the codec supports (see package codec). Only unary methods are
// generated so far.
//
// For a service S in package p the generated file declares:
//
//	const SService = "p.S"
//	type SClient struct{ ... }                 // implements S over a session.Conn
//	func NewSClient(conn session.Conn) *SClient
//	func RegisterS(m *session.Mux, impl S) error
//
// plus unexported argument and result types with msgp-style methods. The
// arguments of a call are a MessagePack array of the parameters in order,
// its results an array of the results before the error. On the serving
// side []byte arguments are views into the request payload, valid until
// the handler returns; on the calling side results are copies. A handler
// error that is an application error (see codec.EncodeError) comes back
// to the caller as the same Go type.
//
// Lifetime and concurrency: Generate is a pure function of the package it
// reads and may be called from several goroutines at once. The generated
// client is safe for concurrent use if its session.Conn is.
package gen
