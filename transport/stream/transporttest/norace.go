//go:build !race

package transporttest

// RaceEnabled reports whether the race detector is on. Under it sync.Pool
// drops items at random, so allocation counts mean nothing.
const RaceEnabled = false
