package bus

import (
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestFanOut: every subscriber gets every message, in publish order, and
// each payload is released once all of them are Done, not before.
func TestFanOut(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(10)
	subs := make([]*Subscription, 5)
	for i := range subs {
		subs[i] = subscribe(t, b, "orders.created", SubOptions{})
	}
	for id := 0; id < 10; id++ {
		res := publish(t, b, tr.msg("orders.created", id))
		require.Equal(t, PublishResult{Delivered: 5}, res)
	}
	for i, s := range subs {
		for id := 0; id < 10; id++ {
			d, err := s.TryNext()
			require.NoError(t, err)
			require.Equal(t, id, idOf(d))
			require.Equal(t, "orders.created", d.Subject)
			require.NoError(t, d.Done())
			want := 0
			if i == len(subs)-1 {
				want = 1
			}
			require.Equal(t, want, tr.released(id), "released only when the last subscriber is done")
		}
		require.Equal(t, uint64(10), s.Stats().Delivered)
	}
	tr.requireReleased(t, 10)
}

// TestWildcards: '*' matches one token, '>' one or more; other subjects
// are not delivered.
func TestWildcards(t *testing.T) {
	b := newBus(t, Config{})
	subjects := []string{"a", "a.b", "a.c", "a.b.c", "x.b", "a.b.c.d"}
	tr := newTracker(len(subjects))
	want := map[string][]string{
		"a.*":   {"a.b", "a.c"},
		"a.>":   {"a.b", "a.c", "a.b.c", "a.b.c.d"},
		"*.b":   {"a.b", "x.b"},
		"*.b.>": {"a.b.c", "a.b.c.d"},
		">":     subjects,
		"a.b":   {"a.b"},
		"*":     {"a"},
		"*.*.c": {"a.b.c"},
	}
	subs := map[string]*Subscription{}
	for p := range want {
		subs[p] = subscribe(t, b, p, SubOptions{})
	}
	for id, subj := range subjects {
		publish(t, b, tr.msg(subj, id))
	}
	for p, s := range subs {
		var got []string
		for _, id := range drain(t, s) {
			got = append(got, subjects[id])
		}
		require.Equal(t, want[p], got, "pattern %q", p)
	}
	tr.requireReleased(t, len(subjects))
}

// TestPublishRefusals: invalid subjects and nil messages fail with
// INVALID_ARGUMENT, and the payload is released anyway.
func TestPublishRefusals(t *testing.T) {
	b := newBus(t, Config{History: 5})
	tr := newTracker(3)
	for id, subj := range []string{"a.*", "a..b", "a b"} {
		_, err := b.Publish(t.Context(), tr.msg(subj, id))
		require.ErrorIs(t, err, plexus.ErrInvalidArgument, subj)
		require.Equal(t, 1, tr.released(id))
	}
	_, err := b.Publish(t.Context(), nil)
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	_, err = b.Subscribe(t.Context(), "a.>.b", SubOptions{})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	_, err = b.Subscribe(t.Context(), "a", SubOptions{Queue: "q", History: 1})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	_, err = b.Subscribe(t.Context(), "a", SubOptions{Overflow: End + 1})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	_, err = New(Config{HistoryRules: []HistoryRule{{Pattern: "a.>.b", Keep: 1}}})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
}
