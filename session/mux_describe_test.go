package session

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

func okUnary(context.Context, []byte) (plexus.Marshaler, error) { return plexus.Raw{}, nil }

// TestMuxServices: a Mux lists what it serves in name order; a method
// registered by hand has signature 0 and its handler's kind, one that
// Describe described has its description's.
func TestMuxServices(t *testing.T) {
	require.Nil(t, (*Mux)(nil).Services(), "a nil Mux serves nothing")
	require.Empty(t, NewMux().Services())

	m := NewMux()
	_, err := m.HandleUnary("b.Values", "Value", okUnary)
	require.NoError(t, err)
	_, err = m.HandleUnary("b.Values", "List", okUnary)
	require.NoError(t, err)
	_, err = m.HandleStream("a.Feed", "Watch", func(context.Context, *Stream) error { return nil })
	require.NoError(t, err)
	_, err = m.HandleNotify("a.Feed", "Poke", func(context.Context, []byte) {})
	require.NoError(t, err)

	require.Equal(t, []plexus.ServiceDesc{
		{Name: "a.Feed", Methods: []plexus.MethodDesc{
			{Name: "Poke", ID: plexus.MethodID("a.Feed", "Poke"), Kind: plexus.Notification},
			{Name: "Watch", ID: plexus.MethodID("a.Feed", "Watch"), Kind: plexus.BidiStream},
		}},
		{Name: "b.Values", Methods: []plexus.MethodDesc{
			{Name: "List", ID: plexus.MethodID("b.Values", "List"), Kind: plexus.Unary},
			{Name: "Value", ID: plexus.MethodID("b.Values", "Value"), Kind: plexus.Unary},
		}},
	}, m.Services())

	// A description as generated code emits it, for one method of two:
	// the other stays undescribed.
	require.NoError(t, m.Describe(plexus.ServiceDesc{Name: "b.Values", Methods: []plexus.MethodDesc{
		{Name: "Value", ID: plexus.MethodID("b.Values", "Value"), Kind: plexus.Unary, Signature: 0x3435},
	}}))
	require.NoError(t, m.Describe(plexus.ServiceDesc{Name: "a.Feed", Methods: []plexus.MethodDesc{
		{Name: "Watch", Kind: plexus.ServerStream, Signature: 0x77}, // ID left zero: taken from the name
	}}))
	got := m.Services()
	require.Equal(t, []plexus.MethodDesc{
		{Name: "Poke", ID: plexus.MethodID("a.Feed", "Poke"), Kind: plexus.Notification},
		{Name: "Watch", ID: plexus.MethodID("a.Feed", "Watch"), Kind: plexus.ServerStream, Signature: 0x77},
	}, got[0].Methods)
	require.Equal(t, []plexus.MethodDesc{
		{Name: "List", ID: plexus.MethodID("b.Values", "List"), Kind: plexus.Unary},
		{Name: "Value", ID: plexus.MethodID("b.Values", "Value"), Kind: plexus.Unary, Signature: 0x3435},
	}, got[1].Methods)
}

// TestMuxDescribeRefusesUntrueDescriptions: a description must be true of
// the handlers, since the peer trusts it at link time; a refused one
// changes nothing.
func TestMuxDescribeRefusesUntrueDescriptions(t *testing.T) {
	m := NewMux()
	_, err := m.HandleUnary("b.Values", "Value", okUnary)
	require.NoError(t, err)
	before := m.Services()

	for _, tc := range []struct {
		desc plexus.ServiceDesc
		want string
	}{
		{plexus.ServiceDesc{Name: "b.Values", Methods: []plexus.MethodDesc{{Name: "Value", Signature: 1}, {Name: "List", Signature: 2}}},
			"describing b.Values: method List is not registered (register the service, with its RegisterX, before describing it)"},
		{plexus.ServiceDesc{Name: "c.Other", Methods: []plexus.MethodDesc{{Name: "Value", Signature: 1}}},
			"describing c.Other: method Value is not registered"},
		{plexus.ServiceDesc{Name: "b.Values", Methods: []plexus.MethodDesc{{Name: "Value", Kind: plexus.Notification, Signature: 1}}},
			"method Value is described as a notification but registered as unary"},
		{plexus.ServiceDesc{Name: "b.Values", Methods: []plexus.MethodDesc{{Name: "Value", ID: 42, Signature: 1}}},
			"method Value has ID 0x2a, its name gives"},
	} {
		require.ErrorContains(t, m.Describe(tc.desc), tc.want)
	}
	require.Equal(t, before, m.Services(), "nothing was recorded")
}

// TestMuxUnknownNamesWhatItServes: an unknown service or method is named
// by its ID (the serving side never learnt its name), with what this side
// serves instead; the lists are bounded.
func TestMuxUnknownNamesWhatItServes(t *testing.T) {
	_, why := (*Mux)(nil).lookup(plexus.MethodID("x.Y", "Z"))
	require.Equal(t, fmt.Sprintf("unknown service %#08x: this side serves no services", plexus.ServiceOf(plexus.MethodID("x.Y", "Z"))), why)
	_, why = NewMux().lookup(plexus.MethodID("x.Y", "Z"))
	require.Contains(t, why, "this side serves no services")

	m := NewMux()
	for _, s := range []string{"hosttest.Host", "render.Other"} {
		_, err := m.HandleUnary(s, "Greet", okUnary)
		require.NoError(t, err)
	}
	_, err := m.HandleUnary("render.Other", "Alpha", okUnary)
	require.NoError(t, err)

	id := plexus.MethodID("render.Values", "Value")
	_, why = m.lookup(id)
	require.Equal(t, fmt.Sprintf("unknown service %#08x: this side serves hosttest.Host, render.Other", plexus.ServiceOf(id)), why)
	_, why = m.lookup(plexus.MethodID("render.Other", "Value"))
	require.Contains(t, why, "of service render.Other (it has Alpha, Greet)")

	for i := range 10 {
		_, err := m.HandleUnary(fmt.Sprintf("z.S%d", i), "M", okUnary)
		require.NoError(t, err)
		_, err = m.HandleUnary("render.Other", fmt.Sprintf("M%d", i), okUnary)
		require.NoError(t, err)
	}
	_, why = m.lookup(id)
	require.Contains(t, why, "this side serves hosttest.Host, render.Other, z.S0, z.S1, z.S2, z.S3, z.S4, z.S5 and 4 more")
	_, why = m.lookup(plexus.MethodID("render.Other", "Value"))
	require.Contains(t, why, "(it has Alpha, Greet, M0, M1, M2, M3, M4, M5 and 4 more)")
}

// TestUnknownServiceAtTheCaller: the caller gets the serving side's words.
func TestUnknownServiceAtTheCaller(t *testing.T) {
	m := NewMux()
	_, err := m.HandleUnary("hosttest.Host", "Greet", okUnary)
	require.NoError(t, err)
	_, plugin := pair(t, m, nil)
	err = plugin.Invoke(context.Background(), plexus.MethodID("render.Values", "Value"), plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "this side serves hosttest.Host")
}
