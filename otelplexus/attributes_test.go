package otelplexus

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// TestNames: names split at the last dot, unnamed calls read as their ID
// (the reserved Shutdown excepted), and only codes plexus names are
// cached.
func TestNames(t *testing.T) {
	for name, want := range map[string][2]string{
		"otest.Plugin.Outer": {"otest.Plugin", "Outer"},
		"svc.Method":         {"svc", "Method"},
		"Method":             {"", "Method"},
	} {
		s, m := splitName(name)
		require.Equal(t, want, [2]string{s, m}, name)
	}
	require.Equal(t, "plexus.call/0x1f", spanName(&session.CallInfo{Method: 0x1f}))
	require.Equal(t, "a.B", spanName(&session.CallInfo{Method: 0x1f, Name: "a.B"}))
	shutdown := plexus.MethodID("plexus.Link", "Shutdown")
	require.Equal(t, "plexus.Link.Shutdown", spanName(&session.CallInfo{Method: shutdown}))
	m := newMethod(&session.CallInfo{Method: shutdown, Side: session.Calling, Kind: plexus.Unary})
	require.Equal(t, "plexus.Link.Shutdown", m.spanName)
	require.Contains(t, m.base, keyService.String("plexus.Link"))
	require.Equal(t, "0xffffffffffffffff", methodIDString(^uint64(0)), "all 64 bits, unsigned")
	require.True(t, knownCode(plexus.NotFound))
	require.True(t, knownCode(plexus.PeerDied))
	require.False(t, knownCode(plexus.Code(1234)))
	o := m.outcome(plexus.Code(1234))
	require.Equal(t, "CODE(1234)", o.code[0].Value.AsString())
	require.Nil(t, m.outcomes.m.Load(), "an unknown code is not cached")
	require.Same(t, m.outcome(plexus.OK), m.outcome(plexus.OK), "a known one is")
}
