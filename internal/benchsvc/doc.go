// Package benchsvc holds the handlers that plexus bench's plugin and the
// layer benchmarks serve alike, so that both measure the same work.
//
// Lifetime and concurrency: the handlers keep no state between calls and
// may run concurrently on any number of calls.
package benchsvc
