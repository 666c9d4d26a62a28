package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHistoryLateJoiner: a subscriber joining while 3 publishers run gets
// the last 50 retained messages, then the live ones, with no gap and no
// duplicate in any publisher's sequence, all in publish order.
func TestHistoryLateJoiner(t *testing.T) {
	requireNoLeak(t)
	const publishers, keep = 3, 50
	perPub := 4000
	if raceEnabled {
		perPub = 1000
	}
	total := publishers * perPub
	b := newBus(t, Config{History: keep})
	tr := newTracker(total)
	ctx := testCtx(t, 30*time.Second)
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Go(func() {
			for i := 0; i < perPub; i++ {
				if _, err := b.Publish(ctx, tr.msg("feed", p*perPub+i)); err != nil {
					return
				}
			}
		})
	}
	eventually(t, "publishing to be under way", func() bool { return b.Stats().Published >= uint64(total/4) })
	s := subscribe(t, b, "feed", SubOptions{History: AllHistory, Buffer: total})

	// Take messages while the publishers run, then the rest once they
	// are done: every Publish has returned, so its message is buffered.
	var seqs []uint64
	replayed := 0
	take := func(d *Delivery) {
		if d.Replayed {
			require.Equal(t, replayed, len(seqs), "history comes first")
			replayed++
		}
		seqs = append(seqs, d.Seq)
		require.NoError(t, d.Done())
	}
	live, stop := context.WithCancel(ctx)
	go func() {
		wg.Wait()
		stop()
	}()
	for {
		d, err := s.Next(live)
		if err != nil {
			break
		}
		take(d)
	}
	<-live.Done()
	for {
		d, err := s.TryNext()
		require.NoError(t, err)
		if d == nil {
			break
		}
		take(d)
	}
	// One subject, a buffer for everything: the subscriber sees the last
	// 50 before it joined and every one after, each publish sequence
	// number once, in order.
	require.Equal(t, keep, replayed)
	last := b.Stats().Published
	require.Equal(t, uint64(total), last)
	require.Len(t, seqs, int(last-seqs[0]+1))
	for i, seq := range seqs {
		require.Equal(t, seqs[0]+uint64(i), seq, "no gap, no duplicate, in order")
	}
	b.Close()
	tr.requireReleased(t, total)
}

// TestHistoryAcrossSubjects: retained messages of every matching subject
// come merged in publish order, at most History per subject and at most
// Buffer in all (the newest).
func TestHistoryAcrossSubjects(t *testing.T) {
	b := newBus(t, Config{History: 2})
	tr := newTracker(7)
	for id, subj := range []string{"a.x", "a.y", "a.x", "a.y", "a.x", "b.z"} {
		publish(t, b, tr.msg(subj, id))
	}
	require.Equal(t, []int{1, 2, 3, 4}, drain(t, subscribe(t, b, "a.*", SubOptions{History: AllHistory})))
	require.Equal(t, []int{3, 4}, drain(t, subscribe(t, b, "a.*", SubOptions{History: 1})))
	require.Equal(t, []int{2, 3, 4}, drain(t, subscribe(t, b, "a.*", SubOptions{History: AllHistory, Buffer: 3})))
	require.Equal(t, []int{1, 2, 3, 4, 5}, drain(t, subscribe(t, b, ">", SubOptions{History: 5})))
	require.Empty(t, drain(t, subscribe(t, b, "a.*", SubOptions{})), "no history unless asked")
	live := subscribe(t, b, "a.*", SubOptions{History: 1})
	publish(t, b, tr.msg("a.x", 6))
	var got []string
	for _, id := range drain(t, live) {
		got = append(got, fmt.Sprint(id))
	}
	require.Equal(t, []string{"3", "4", "6"}, got)
	require.Equal(t, []int{1, 0, 1, 0, 0, 0, 0}, releasedList(tr, 7), "only the evicted ones: 0 and 2, by 4 and 6")
	b.Close()
	tr.requireReleased(t, 7)
}

// TestHistoryRulesAndBound: rules override the default by pattern, and
// the subject published to least recently is forgotten beyond the bound;
// every message leaves history released.
func TestHistoryRulesAndBound(t *testing.T) {
	b := newBus(t, Config{History: 1, HistorySubjects: 2, HistoryRules: []HistoryRule{
		{Pattern: "keep.>", Keep: 3}, {Pattern: "none.>", Keep: 0},
	}})
	tr := newTracker(8)
	for id := 0; id < 5; id++ {
		publish(t, b, tr.msg("keep.a", id))
	}
	require.Equal(t, []int{1, 1, 0, 0, 0}, releasedList(tr, 5))
	publish(t, b, tr.msg("none.a", 5))
	require.Equal(t, 1, tr.released(5))
	publish(t, b, tr.msg("other", 6))
	require.Equal(t, Stats{Published: 7, HistorySubjects: 2, HistoryMessages: 4}, b.Stats())
	publish(t, b, tr.msg("other2", 7))
	require.Equal(t, []int{1, 1, 1, 1, 1, 1, 0, 0}, releasedList(tr, 8), "keep.a forgotten")
	require.Equal(t, []int{6, 7}, drain(t, subscribe(t, b, ">", SubOptions{History: AllHistory})))
	b.Close()
	require.Equal(t, Stats{Published: 8}, b.Stats())
	tr.requireReleased(t, 8)
}
