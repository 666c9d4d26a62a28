package otelplexus

import "time"

// waitFor polls cond every step until it holds, for at most d (and 10000
// polls), and says whether it did: a serving side's End runs after it has
// sent its response, so what it records is waited for, never assumed to
// be there.
func waitFor(d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for range 10000 {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
	return false
}
