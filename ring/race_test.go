//go:build race

package ring

// The race detector slows the ring by an order of magnitude; long runs
// shrink so that `go test -race` stays within minutes.
const raceEnabled = true
