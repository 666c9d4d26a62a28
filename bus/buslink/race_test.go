//go:build race

package buslink_test

// The race detector slows every lock and channel by an order of
// magnitude; long runs shrink so that `go test -race` stays within
// seconds.
const raceEnabled = true
