// Package plexus is the shared vocabulary of the plexus host <-> plugin IPC
// system: the status error type and the transport-independent interfaces that
// the layers below (ring, shm, session, transports) and above (host, plugin,
// generated code) agree on.
//
// Lifetime and concurrency: the root package holds only values and
// interfaces; every exported value is immutable and safe for concurrent use.
package plexus
