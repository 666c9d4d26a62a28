//go:build race

package conformance

// Sizes of the two heaviest scenarios under the race detector. They live
// in non-test files (not a race_test.go pair) because other packages' tests
// call Run. A burst of 10,000 calls needs a goroutine per call on the
// caller's side and up to one per handler on the callee's, beyond the race
// detector's limit of 8128 live goroutines. Three 100,000-item streams take
// about 50 s for the 8 subtests under the race detector on a quiet 2-core
// machine (and several times that on a loaded one), against about 10 s
// without it.
const (
	concurrentCalls = 3000
	streamItems     = 10000
)
