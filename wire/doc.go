// Package wire owns plexus's wire format, the same on every transport: the
// 64-byte descriptor and its accessors (desc.go), every bit of its flags
// byte (flags.go), the frame kinds and what a frame costs under flow
// control (kind.go), and the two encodings a payload may start with, the
// metadata block (metadata.go) and the body of a non-OK status
// (status.go). SPEC.md is the normative description; the constants here
// must match it.
//
// It knows nothing of rings, segments or sessions: package ring moves
// 64-byte cells without looking into them, transports place payloads by
// the flags defined here, and the session gives frames their meaning.
//
// Lifetime and concurrency: the package holds constants and functions
// without state. A Desc is a plain value: its accessors read and write it
// in place and are as safe for concurrent use as the memory it lives in.
// The parsers copy what they keep and never alias their input.
package wire
