package retry

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestDefaults: the zero Policy is the documented default.
func TestDefaults(t *testing.T) {
	c, err := NewConn(&fakeConn{}, Config{Services: services})
	require.NoError(t, err)
	p := c.t.lookup(putID)
	require.Equal(t, DefaultMaxAttempts, p.maxAttempts)
	require.Equal(t, DefaultInitialBackoff, p.initial)
	require.Equal(t, DefaultMaxBackoff, p.max)
	require.Equal(t, DefaultMultiplier, p.multiplier)
	require.Equal(t, DefaultJitter, p.jitter)
	require.False(t, p.idempotent)
	for code := range plexus.Code(128) {
		want := code == plexus.Unavailable || code == plexus.PeerDied
		require.Equal(t, want, p.codes.has(code), "code %v", code)
	}
	require.True(t, c.t.lookup(getID).idempotent)
	require.True(t, c.t.lookup(getID).mayRerun())
	require.Nil(t, c.t.bucket)

	none, err := NewConn(&fakeConn{}, Config{Services: services, Default: Policy{RetryableCodes: []plexus.Code{}}})
	require.NoError(t, err)
	require.False(t, none.t.lookup(getID).mayRerun(), "an empty code list retries nothing that may have run")
}

// TestConfigErrors: every bad value is refused, naming its field.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Default: Policy{MaxAttempts: -1}}, "Config.Default.MaxAttempts -1"},
		{Config{Default: Policy{InitialBackoff: -time.Second}}, "Config.Default.InitialBackoff -1s"},
		{Config{Default: Policy{MaxBackoff: -time.Second}}, "Config.Default.MaxBackoff -1s"},
		{Config{Default: Policy{InitialBackoff: 10 * time.Second}}, "Config.Default.InitialBackoff 10s exceeds MaxBackoff 5s"},
		{Config{Default: Policy{Multiplier: 0.5}}, "Config.Default.Multiplier 0.5"},
		{Config{Default: Policy{Multiplier: math.NaN()}}, "Config.Default.Multiplier NaN"},
		{Config{Default: Policy{Multiplier: math.Inf(1)}}, "Config.Default.Multiplier +Inf"},
		{Config{Default: Policy{Jitter: 1.5}}, "Config.Default.Jitter 1.5"},
		{Config{Default: Policy{RetryableCodes: []plexus.Code{plexus.DeadlineExceeded}}}, "Config.Default.RetryableCodes holds DEADLINE_EXCEEDED"},
		{Config{Default: Policy{RetryableCodes: []plexus.Code{plexus.Canceled}}}, "Config.Default.RetryableCodes holds CANCELED"},
		{Config{Default: Policy{RetryableCodes: []plexus.Code{plexus.OK}}}, "Config.Default.RetryableCodes holds OK"},
		{Config{Default: Policy{RetryableCodes: []plexus.Code{99}}}, "Config.Default.RetryableCodes holds CODE(99)"},
		{Config{Methods: map[uint64]Policy{0xabc: {MaxAttempts: -2}}}, "Config.Methods[0xabc].MaxAttempts -2"},
		{Config{Throttle: &Throttle{MaxTokens: 0, TokenRatio: 1}}, "Config.Throttle.MaxTokens 0"},
		{Config{Throttle: &Throttle{MaxTokens: 1001, TokenRatio: 1}}, "Config.Throttle.MaxTokens 1001"},
		{Config{Throttle: &Throttle{MaxTokens: 10, TokenRatio: 0}}, "Config.Throttle.TokenRatio 0"},
		{Config{Services: []plexus.ServiceDesc{{Methods: []plexus.MethodDesc{{Idempotent: true}}}}}, "Config.Services[0].Methods[0] has neither an ID"},
		{Config{Services: []plexus.ServiceDesc{services[0], {Name: svcName, Methods: []plexus.MethodDesc{{Name: "Get"}}}}},
			"Config.Services[1].Methods[0] (retrytest.Svc.Get"},
	} {
		_, err := NewConn(&fakeConn{}, tc.cfg)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := NewConn(nil, Config{})
	require.ErrorIs(t, err, errNilConn)
}
