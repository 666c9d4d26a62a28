// Package handshaketest holds what tests of the link handshake need on
// both of its sides (internal/handshake, plugin, host): a connected pair
// of SOCK_SEQPACKET sockets, as the host and the plugin hold across a
// shared-memory link.
//
// Lifetime and concurrency: every value it returns is closed by the
// test's cleanup; each is used as a sockconn.Conn is (internal/sockconn).
package handshaketest
