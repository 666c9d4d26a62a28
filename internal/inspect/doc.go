// Package inspect is the reading side of a host's introspection endpoint
// (host.ServeInspect): Fetch connects to a process's socket and reads its
// document, Render lays the document out as text for people. plexus
// inspect is built on it, and its test reads a live host with it.
//
// Lifetime: nothing is kept between calls; Fetch opens one connection,
// reads one document and closes it, within its context and a bound of its
// own.
//
// Concurrency: stateless; its functions may be called from any goroutine.
package inspect
