package retry

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestThrottle: with MaxTokens 10 and TokenRatio 1, failing calls take
// a token per failed attempt and are retried only while more than 5
// remain; calls that never left are retried whatever the count; and
// successes bring the retries back.
func TestThrottle(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services, Default: Policy{MaxAttempts: 2},
		Throttle: &Throttle{MaxTokens: 10, TokenRatio: 1}}, &s)
	tokens := func() float64 { return float64(c.t.bucket.tokens.Load()) / milli }
	ctx := context.Background()
	failing := func() (attempts int, err error) {
		before := len(f.attempts())
		f.steps = []step{{err: unavailable()}, {err: unavailable()}}
		err = c.Invoke(ctx, getID, plexus.Raw("k"), nil)
		return len(f.attempts()) - before, err
	}
	succeeding := func() {
		f.steps = nil
		require.NoError(t, c.Invoke(ctx, getID, plexus.Raw("k"), nil))
	}

	require.Equal(t, 10.0, tokens())
	// 10 -> 9, retried (9 > 5) -> 8; 8 -> 7, retried -> 6.
	for i, want := range []float64{8, 6} {
		n, err := failing()
		require.Equal(t, 2, n, "failing call %d", i)
		var re *Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, Exhausted, re.Reason)
		require.Equal(t, want, tokens())
	}
	// 6 -> 5: no longer above half; 5 -> 4.
	for i, want := range []float64{5, 4} {
		n, err := failing()
		require.Equal(t, 1, n, "throttled call %d", i)
		var re *Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, Throttled, re.Reason)
		require.Equal(t, plexus.Unavailable, plexus.CodeOf(err))
		require.Equal(t, want, tokens())
	}
	// Not sent: retried although throttled, and neither attempt takes a
	// token; the success gives one back.
	before := len(f.attempts())
	f.steps = []step{{err: notSent()}}
	require.NoError(t, c.Invoke(ctx, getID, plexus.Raw("k"), nil))
	require.Equal(t, 2, len(f.attempts())-before)
	require.Equal(t, 5.0, tokens())

	// 5 + 1 = 6 -> a failure leaves 5: still throttled.
	succeeding()
	n, _ := failing()
	require.Equal(t, 1, n)
	require.Equal(t, 5.0, tokens())
	// 5 + 2 = 7 -> a failure leaves 6: retried -> 5.
	succeeding()
	succeeding()
	n, err := failing()
	require.Equal(t, 2, n, "retries resume after successes")
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, Exhausted, re.Reason)
	require.Equal(t, 5.0, tokens())

	// Successes refill up to MaxTokens, no further.
	for range 20 {
		succeeding()
	}
	require.Equal(t, 10.0, tokens())
}

// TestThrottleCountsOnlyRetryableCodes: a failure whose code the policy
// does not retry (here a non-retryable status and an application error)
// takes no token; a retryable code does even for a method that is not
// idempotent, since it says the peer is in trouble.
func TestThrottleCountsOnlyRetryableCodes(t *testing.T) {
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services, Throttle: &Throttle{MaxTokens: 4, TokenRatio: 0.5}}, &sleeps{})
	ctx := context.Background()
	f.steps = []step{{err: plexus.Errorf(plexus.InvalidArgument, "bad")}, {err: &plexus.Status{Code: plexus.ApplicationError}}}
	require.Error(t, c.Invoke(ctx, getID, plexus.Raw("k"), nil))
	require.Error(t, c.Invoke(ctx, getID, plexus.Raw("k"), nil))
	require.Equal(t, int64(4*milli), c.t.bucket.tokens.Load())
	f.steps = []step{{err: peerDied()}}
	require.Error(t, c.Invoke(ctx, putID, plexus.Raw("v"), nil))
	require.Equal(t, int64(3*milli), c.t.bucket.tokens.Load())
	f.steps = nil
	require.NoError(t, c.Invoke(ctx, putID, plexus.Raw("v"), nil))
	require.Equal(t, int64(3.5*milli), c.t.bucket.tokens.Load())
}
