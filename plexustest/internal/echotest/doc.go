// Package echotest declares the small services that package plexustest's
// tests and examples serve: Echo, served by the plugin's end, and Case,
// served by the host's end for Echo's callbacks. Its generated file is
// written by plexus gen (go generate) and kept current by internal/gen's
// TestCommittedUpToDate.
//
// Lifetime and concurrency: it declares interfaces only; the generated
// clients and registrations follow package gen's contract (a client is
// safe for concurrent use when its session.Conn is).
package echotest
