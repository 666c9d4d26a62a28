// Package bufpool holds the payload buffers of the socket and in-process
// transports: power-of-two size classes in sync.Pools shared by every link
// of the process, and the set of buffers a transport's Alloc handed out, so
// that Send can tell them from caller memory. CheckAlloc, AllocSet.Alloc
// and AllocSet.Free are the part of Alloc and Free the two transports
// share.
//
// Lifetime: buffers live until Put or until the garbage collector takes
// them; an AllocSet lives as long as its transport.
//
// Concurrency: Get and Put are safe for concurrent use; an AllocSet's
// methods are safe for concurrent use.
package bufpool
