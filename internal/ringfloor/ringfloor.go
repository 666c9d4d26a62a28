package ringfloor

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrUnsupported is Start's error where there is no shared memory to
// measure (not Linux).
var ErrUnsupported = errors.New("ringfloor: needs Linux")

// MaxCallers bounds Calls' callers: every caller has at most one request
// in flight, and the rings must hold them all.
const MaxCallers = cells / 2

const (
	cells    = 1024 // per ring
	cellSize = 64   // one cache line
	// peerEnv marks the re-executed child as the peer; its value is the
	// echo it corrupts on purpose (a test's), or "0" for none.
	peerEnv = "PLEXUS_RINGFLOOR_PEER"
	stopID  = ^uint32(0) // a request with this caller ID stops the peer
)

// MaybeServe makes this process the echo peer if Start started it: it
// serves the memfd on fd 3 and exits. Otherwise it returns at once. Call it
// before anything else in main or TestMain.
func MaybeServe() {
	v := os.Getenv(peerEnv)
	if v == "" {
		return
	}
	if err := serve(v); err != nil {
		fmt.Fprintf(os.Stderr, "ringfloor peer: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Measure starts a peer, runs callers for d (Calls) and closes it: the
// calls per second, or why there are none.
func Measure(callers int, d time.Duration) (float64, error) {
	p, err := Start()
	if err != nil {
		return 0, err
	}
	rate, err := p.Calls(callers, d)
	return rate, errors.Join(err, p.Close())
}
