// Package genrt is the runtime of the code that plexus gen writes: the
// stream helpers every generated file with streaming methods would
// otherwise carry a copy of, Service, the value a generated NewXService
// returns, and CallError, which names the method in a failed unary call's
// UNIMPLEMENTED status. Generated code calls it; applications meet only
// Service and Method, as plugin.Service and plugin.Method (the same
// types), and need not import it.
//
// Lifetime and concurrency: it holds no state. A Service is a plain value,
// which may be copied and shared; its Register is called once per Mux it
// is registered on, before that Mux's session starts. An Inbox belongs to
// the one goroutine that receives on its stream; RecvCaller, RecvHandler
// and Pump are called by the goroutine that owns the stream's receiving or
// sending side, under the session's rules for a Stream (one goroutine
// sending and one receiving at a time).
package genrt
