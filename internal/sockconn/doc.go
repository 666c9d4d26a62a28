// Package sockconn is a Unix socket on the runtime's poller without
// package net: a connected descriptor (a socketpair's end, inherited or
// made here) adopted as a pollable *os.File, with the message calls
// (recvmsg, sendmsg) that passing descriptors and keeping datagram
// boundaries need.
//
// Why not net.UnixConn: package net, with cgo enabled (the default where
// a C compiler is installed), makes every binary that links it load the C
// library at start, two to three milliseconds of a plugin's start on the
// 2-vCPU virtual machine (DESIGN.md "Starting a plugin"). A plugin links
// only this for its links' sockets.
//
// Lifetime: a Conn owns its descriptor from FromFD on, and Close closes
// it. Concurrency: as an *os.File: reads, writes and deadlines may come
// from different goroutines; one reader and one writer at a time each keep
// messages whole. A read or write pending when Close is called returns an
// error wrapping os.ErrClosed.
package sockconn
