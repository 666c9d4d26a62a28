package retry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// newTestConn wraps f with cfg, recording backoffs in s instead of
// waiting them when s is not nil.
func newTestConn(t *testing.T, f *fakeConn, cfg Config, s *sleeps) *Conn {
	t.Helper()
	c, err := NewConn(f, cfg)
	require.NoError(t, err)
	if s != nil {
		c.sleep = s.sleep
	}
	return c
}

// TestBackoffWithinBounds: each wait lies within ±Jitter of its nominal
// value, which grows by Multiplier from InitialBackoff up to MaxBackoff
// (the cap applying to the jittered wait too), and the jitter does
// spread the waits over its range.
func TestBackoffWithinBounds(t *testing.T) {
	const (
		initial = 10 * time.Millisecond
		maxB    = 60 * time.Millisecond
		jitter  = 0.2
		calls   = 300
	)
	nominal := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, maxB, maxB}
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Default: Policy{MaxAttempts: len(nominal) + 1, InitialBackoff: initial,
		MaxBackoff: maxB, Multiplier: 2, Jitter: jitter}}, &s)

	lowest := make([]time.Duration, len(nominal))
	highest := make([]time.Duration, len(nominal))
	for i := range calls {
		f.steps = []step{{err: notSent()}, {err: notSent()}, {err: notSent()}, {err: notSent()}, {err: notSent()}}
		var resp plexus.Raw
		require.NoError(t, c.Invoke(context.Background(), putID, plexus.Raw("x"), &resp))
		require.Equal(t, "ok", string(resp))
		waits := s.take()
		require.Len(t, waits, len(nominal), "call %d", i)
		for k, w := range waits {
			lo := time.Duration(float64(nominal[k]) * (1 - jitter))
			hi := min(time.Duration(float64(nominal[k])*(1+jitter))+1, maxB) // the library's range ends 1 ns above
			require.True(t, w >= lo && w <= hi, "call %d, wait %d: %v outside [%v, %v]", i, k, w, lo, hi)
			if i == 0 || w < lowest[k] {
				lowest[k] = w
			}
			if i == 0 || w > highest[k] {
				highest[k] = w
			}
		}
	}
	// Uniform over ±20%: 300 draws cover well over half of each range
	// (the chance that they do not is below 1e-80).
	for k := range 3 {
		spread := highest[k] - lowest[k]
		require.Greater(t, spread, time.Duration(float64(nominal[k])*jitter), "wait %d barely varies: [%v, %v]", k, lowest[k], highest[k])
	}
	require.Len(t, f.attempts(), calls*(len(nominal)+1))
}

// TestBackoffNoJitter: without jitter the waits are exactly the nominal
// sequence, Multiplier 1 keeps them constant.
func TestBackoffNoJitter(t *testing.T) {
	for _, tc := range []struct {
		mult float64
		want []time.Duration
	}{
		{3, []time.Duration{4 * time.Millisecond, 12 * time.Millisecond, 36 * time.Millisecond, 50 * time.Millisecond}},
		{1, []time.Duration{4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}},
	} {
		var s sleeps
		f := &fakeConn{steps: []step{{err: notSent()}, {err: notSent()}, {err: notSent()}, {err: notSent()}}}
		c := newTestConn(t, f, Config{Default: Policy{MaxAttempts: 5, InitialBackoff: 4 * time.Millisecond,
			MaxBackoff: 50 * time.Millisecond, Multiplier: tc.mult, Jitter: NoJitter}}, &s)
		require.NoError(t, c.Invoke(context.Background(), putID, plexus.Raw("x"), nil))
		require.Equal(t, tc.want, s.take(), "multiplier %v", tc.mult)
	}
}

// TestBackoffWaitsInRealTime: the attempts are spaced by at least the
// lower bound of each backoff (the default sleep, not a recorder).
func TestBackoffWaitsInRealTime(t *testing.T) {
	f := &fakeConn{steps: []step{{err: notSent()}, {err: notSent()}, {err: notSent()}}}
	c := newTestConn(t, f, Config{Default: Policy{MaxAttempts: 4, InitialBackoff: 20 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.2}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Invoke(ctx, putID, plexus.Raw("x"), nil))
	at := f.attempts()
	require.Len(t, at, 4)
	lows := []time.Duration{16 * time.Millisecond, 32 * time.Millisecond, 40 * time.Millisecond}
	highs := []time.Duration{24 * time.Millisecond, 48 * time.Millisecond, 50 * time.Millisecond}
	for k := range lows {
		gap := at[k+1].at.Sub(at[k].at)
		require.GreaterOrEqual(t, gap, lows[k], "gap %d", k)
		// A loaded machine may wake a timer late, never early: the upper
		// bound gets slack.
		require.Less(t, gap, highs[k]+500*time.Millisecond, "gap %d", k)
	}
}
