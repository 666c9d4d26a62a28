//go:build !race

package conformance

// Full sizes of the two heaviest scenarios; see race.go.
const (
	concurrentCalls = 10000
	streamItems     = 100000
)
