package retry

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Throttle is gRPC's retryThrottling: a token bucket, shared by every
// call through one Conn (each NewConn makes a bucket of its own), that
// stops retries while most calls fail, so that a peer in trouble is not
// sent each call MaxAttempts times. It starts full (MaxTokens). Each
// failed attempt that reached the peer with a code its method's policy
// counts as retryable takes one token (down to 0), whether or not the
// method is idempotent, since such a code says the peer is in trouble;
// each successful attempt gives back TokenRatio (up to MaxTokens); and a
// call that may have reached the peer is retried only while more than
// MaxTokens/2 tokens remain. Attempts that never left
// (session.ErrNotSent) neither take tokens nor wait for them: they cost
// the peer nothing, which is what the throttle protects.
type Throttle struct {
	MaxTokens  float64 // (0, 1000]
	TokenRatio float64 // > 0; kept to a thousandth, as gRPC does
}

// bucket is a Throttle's state. Tokens are kept in thousandths in one
// atomic word, so that the many calls that share it update it without a
// lock; gRPC keeps token_ratio to three decimals for the same reason.
type bucket struct {
	tokens atomic.Int64 // thousandths of a token
	max    int64
	half   int64
	ratio  int64
}

const milli = 1000

func (t *Throttle) compile() (*bucket, error) {
	if m := t.MaxTokens; math.IsNaN(m) || m <= 0 || m > 1000 {
		return nil, fmt.Errorf("retry: Config.Throttle.MaxTokens %v: must be above 0 and at most 1000", m)
	}
	if r := t.TokenRatio; math.IsNaN(r) || math.IsInf(r, 0) || r < 0.001 {
		return nil, fmt.Errorf("retry: Config.Throttle.TokenRatio %v: must be at least 0.001", r)
	}
	b := &bucket{
		max:   int64(math.Round(t.MaxTokens * milli)),
		ratio: int64(math.Round(t.TokenRatio * milli)),
	}
	b.half = b.max / 2
	b.tokens.Store(b.max)
	return b, nil
}

// success gives back the ratio. A full bucket, the steady state of a
// healthy peer, is only read, so that successful calls on many cores do
// not all write the one shared word.
func (b *bucket) success() {
	for {
		cur := b.tokens.Load()
		if cur >= b.max {
			return
		}
		if b.tokens.CompareAndSwap(cur, min(cur+b.ratio, b.max)) {
			return
		}
	}
}

// failure takes one token.
func (b *bucket) failure() {
	for {
		cur := b.tokens.Load()
		if cur <= 0 {
			return
		}
		if b.tokens.CompareAndSwap(cur, max(cur-milli, 0)) {
			return
		}
	}
}

// allow reports whether a retry may be made now.
func (b *bucket) allow() bool { return b.tokens.Load() > b.half }
