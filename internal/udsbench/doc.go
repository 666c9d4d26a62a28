// Package udsbench is the yardstick every plexus figure is reported against:
// a ping-pong of fixed 64-byte messages over a Unix stream socket between two
// Go processes, with nothing in between.
//
// The echo peer is the calling binary itself, re-executed: StartPeer runs
// os.Executable() with a marker in the environment and the child's end of a
// socketpair as fd 3, and MaybeServePeer (which every binary using this
// package calls first thing in main or TestMain) turns that child into an
// echo server and exits.
//
// StartFloorPeer and PingPongFloor measure the same ping-pong with both
// ends in blocking read(2) and write(2) on locked threads (Unix only): the
// kernel's wake-up of a blocked thread, twice a round trip, with no Go
// scheduler or poller in the way. It is the floor under any call that has
// to wake its peer, and plexus bench reports it beside every condition.
//
// Lifetime: a peer serves until its end of the socket reads EOF, that is
// until Peer.Close, or until the parent dies (on Linux the child asks for
// SIGKILL on parent death; elsewhere it exits at the EOF the kernel produces
// when the parent's descriptors close). Peer.Close waits for the child and
// kills it if it does not exit in time.
//
// Concurrency: one connection carries one conversation: PingPong must not
// run concurrently with itself (or anything else reading or writing) on the
// same connection. Distinct peers are independent. Percentile sorts its
// argument in place and must not race with other users of that slice.
package udsbench
