// Package peers is the contract shared by the side-by-side comparison of
// plexus with other ways of linking a Go host to a plugin process: the
// service every peer carries (Echo, Put, Blob, plus Block for the kill
// measurement), the host side's view of a running plugin (Conn), the
// description of a peer (Peer), the work every plugin does (Impl), and the
// byte pattern that blobs carry so that their contents can be checked.
//
// Each peer lives in a package of its own (plexuspeer, grpcpeer, netrpcpeer,
// udspeer) with a host side (its Peer's Start) and a plugin side (Serve,
// called by the peer's binary under cmd/). The measurement driver (package
// driver, command cmd/peers) knows peers only through this package, so that
// one piece of code measures them all.
//
// Lifetime: a Conn is one plugin process, from Peer.Start until Close. Close
// ends the process (gracefully if it can, with SIGKILL otherwise) and waits
// for it; after Close, or after the process died, every call fails. A Conn
// does not restart its plugin.
//
// Concurrency: a Conn is safe for concurrent use by any number of
// goroutines; a peer whose transport carries one call at a time (udspeer)
// serialises them. An Impl is safe for concurrent use; it keeps no state
// between calls except the cached contents of Blob responses, which are
// never modified once made. Fill, Check and CheckSampled read or write only
// their argument.
package peers
