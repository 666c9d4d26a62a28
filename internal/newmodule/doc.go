// Package newmodule holds the test of the README's "Your own module"
// steps: it lays out a module of its own in a temporary directory (a
// service package, a host binary, a plugin binary: testdata/app), adds
// plexus to it as the README says, runs go generate, builds both binaries
// and runs the host, which starts the plugin and calls it. The package has
// no code; the test is the point.
//
// Lifetime and concurrency: one test, run by go test; it removes its
// temporary module and binaries when it ends.
package newmodule
