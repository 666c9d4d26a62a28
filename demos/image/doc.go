//go:build linux

// Command image hands images to an image-processing plugin through
// zero-copy leases: the host draws the source picture in place into link
// memory (a lease), the plugin reads it where it lies, writes grayscale,
// blurred and half-size versions in place into a lease of its own, and
// the host encodes the PNG files straight from that memory. It runs the
// same pipeline with ordinary []byte messages for comparison, and prints
// each stage's time and the bytes copied on each path.
//
//	go run ./demos/image [-out DIR] [-size 1280x960] [-radius 6]
//
// The service is the Go interface imgproc.Processor, whose Pipeline
// method takes and returns a *session.Lease.
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, its plugin; everything it starts ends
// with it.
package main
