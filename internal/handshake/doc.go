// Package handshake defines the messages a host and a plugin exchange over
// the link's control socket before the shared-memory transport takes the
// socket over, the environment variable that tells a plugin where its link
// is, and the negotiation rules (SPEC.md "Handshake").
//
// The conversation is three messages, one per SOCK_SEQPACKET datagram:
// the host sends HELLO (link protocol range, cookie, application versions
// it can use, limits); the plugin answers REPLY (chosen protocol and
// version, its limits, its services with method IDs and signature hashes,
// and from protocol 3 on the host services it calls, described alike) or
// REJECT; the host answers ACCEPT, or REJECT if the plugin's services do
// not match what it expects (CheckServices) or the plugin calls host
// services the host does not serve alike (CheckHostServices). Then both
// sides hand the socket to the transport.
//
// Every value that comes from the peer is validated by Decode (bounds on
// every count and length, method IDs recomputed from the names); a
// message that fails validation is an error, never a partial result.
//
// Lifetime and concurrency: the package keeps no state. Host and Plugin
// run one conversation on a socket that nobody else reads or writes until
// they return; they leave the socket's deadline cleared.
package handshake
