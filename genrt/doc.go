// Package genrt is the runtime of the code that plexus gen writes: the
// stream helpers every generated file with streaming methods would
// otherwise carry a copy of. Generated code calls it; applications do not.
//
// Lifetime and concurrency: it holds no state. An Inbox belongs to the one
// goroutine that receives on its stream; RecvCaller, RecvHandler and Pump
// are called by the goroutine that owns the stream's receiving or sending
// side, under the session's rules for a Stream (one goroutine sending and
// one receiving at a time).
package genrt
