//go:build race

package main

// The bench's own test runs without the race detector, in the suite's
// last stage (test.sh): it starts a dozen plugin processes, each of which
// the detector slows by an order of magnitude, and its code is the
// session's and the bus's, which their own packages race.
const raceEnabled = true
