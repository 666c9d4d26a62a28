package session

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
)

// ranOn is where the goroutine calling it is running a call: "reader" (a
// reader running it itself), "worker", or the stack if neither.
func ranOn() string {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	switch {
	case strings.Contains(stack, "(*reader).runCall"):
		return "reader"
	case strings.Contains(stack, "(*server).worker"):
		return "worker"
	}
	return stack
}

// statuses takes n STATUS frames off fp, whatever their order, and returns
// their payloads by channel.
func statuses(t *testing.T, fp *fakePoller, n int) map[uint64]string {
	t.Helper()
	got := map[uint64]string{}
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case f := <-fp.out:
			if f.Desc.Kind() == wire.KindStatus {
				got[f.Desc.Channel()] = string(f.Payload)
			}
		case <-timeout:
			t.Fatalf("%d of %d statuses within 10s", len(got), n)
		}
	}
	return got
}

// TestCheapCallsRunOnReader: calls of a cheap handler published together
// all run on the reader, each with the others behind it in the ring; once
// the handler's sampled calls have cost more than inlineMaxCost, calls
// with frames behind them go to workers again (all but the last, which has
// nothing behind it).
func TestCheapCallsRunOnReader(t *testing.T) {
	const n = 16
	var mu sync.Mutex
	where := map[string]int{}
	var spin time.Duration // how long the handler keeps its processor
	mux := NewMux()
	id, err := mux.HandleUnary("test.Inline", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		mu.Lock()
		where[ranOn()]++
		d := spin
		mu.Unlock()
		for start := time.Now(); time.Since(start) < d; {
		}
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	h := mux.methods[id]
	fp := newFakePoller(20 * time.Microsecond)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor, Mux: mux})
	// No promote: a call that a slow test machine keeps past promoteAfter
	// must not count as blocked here (TestBlockedCallMarksHandler).
	r.promoteAfter = time.Hour

	next := uint64(1)
	publish := func() map[uint64]string {
		ids := map[uint64]string{}
		for range n {
			ids[next] = fmt.Sprint("call ", next)
			fp.push(peerFrame(wire.KindOpen, next, id, ids[next]))
			next += 2
		}
		return ids
	}
	// Published before any reader runs: every call but the last has the
	// others behind it.
	require.True(t, h.cheap(), "a handler not yet sampled is cheap")
	ids := publish()
	go r.read()
	require.Equal(t, ids, statuses(t, fp, n))
	mu.Lock()
	require.Equal(t, map[string]int{"reader": n}, where, "no call went to a worker; slow share %d", h.cost.slow.Load())
	where = map[string]int{}
	spin = 4 * inlineMaxCost // each call costs more than the bar now
	mu.Unlock()

	// One call at a time until its samples (one call in costSampleEvery)
	// say the handler is slow: 6 samples cross half.
	for i := 0; i < 16*costSampleEvery && h.cheap(); i++ {
		fp.push(peerFrame(wire.KindOpen, next, id, "one"))
		fp.expect(t, wire.KindStatus, next)
		next += 2
	}
	require.False(t, h.cheap(), "a handler whose calls cost more than inlineMaxCost is not cheap")

	mu.Lock()
	where = map[string]int{}
	mu.Unlock()
	// Published while the reader polls, at once (fp's lock): every call
	// the reader takes before the last one published has frames behind it,
	// and goes to a worker.
	fp.mu.Lock()
	ids = map[uint64]string{}
	for i := range n {
		ids[next+2*uint64(i)] = "burst"
		fp.in = append(fp.in, peerFrame(wire.KindOpen, next+2*uint64(i), id, "burst"))
	}
	armed := fp.armed
	fp.mu.Unlock()
	if armed {
		fp.rings.Add(1)
		fp.ring()
	}
	require.Equal(t, ids, statuses(t, fp, n))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, n, where["reader"]+where["worker"], "every call ran on the reader or a worker: %v", where)
	require.Equal(t, n-1, where["worker"], "calls of a slow handler with frames behind them go to workers: %v", where)
}

// TestBlockedCallMarksHandler: a call that blocks on the reader past
// promoteAfter, with no sleeper to receive behind it, is marked (the
// promote timer's firing) as three slow samples would be.
func TestBlockedCallMarksHandler(t *testing.T) {
	mux := NewMux()
	release := make(chan struct{})
	started := make(chan string, 1)
	block, err := mux.HandleUnary("test.Inline", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		started <- ranOn()
		<-release
		return plexus.Raw("unblocked"), nil
	})
	require.NoError(t, err)
	h := mux.methods[block]
	fp := newFakePoller(20 * time.Microsecond)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor, Mux: mux})
	go r.read() // the only reader: no sleeper covers the call it runs

	require.Zero(t, h.cost.slow.Load())
	fp.push(peerFrame(wire.KindOpen, 1, block, "wait"))
	select {
	case where := <-started:
		require.Equal(t, "reader", where)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	var want handlerCost
	want.blocked()
	eventually(t, func() bool { return h.cost.slow.Load() == want.slow.Load() }, "the promote timer marked the blocked call")
	close(release)
	st := fp.expect(t, wire.KindStatus, 1)
	require.Equal(t, "unblocked", string(st.Payload))
}

// TestHandlerCostShare: the share of slow sampled calls crosses half in
// six, one slow call among cheap ones does not make a handler slow, nor
// does one blocked call (two do), a slow handler is cheap again within
// eight cheap samples, and only unary handlers are ever cheap.
func TestHandlerCostShare(t *testing.T) {
	h := &handler{kind: kindUnaryHandler}
	require.True(t, h.cheap())
	slow, fast := 2*inlineMaxCost, inlineMaxCost/4
	for i := range 5 {
		h.cost.note(slow)
		require.True(t, h.cheap(), "after %d slow samples", i+1)
	}
	h.cost.note(slow)
	require.False(t, h.cheap(), "after 6 slow samples")

	h = &handler{kind: kindUnaryHandler}
	for range 20 {
		h.cost.note(fast)
	}
	h.cost.note(time.Second) // preempted once
	require.True(t, h.cheap(), "one slow sample among cheap ones")

	h = &handler{kind: kindUnaryHandler}
	h.cost.blocked()
	require.True(t, h.cheap(), "after one blocked call")
	h.cost.blocked()
	require.False(t, h.cheap(), "after two blocked calls")

	h = &handler{kind: kindUnaryHandler}
	for range 20 {
		h.cost.note(slow)
	}
	for range 3 {
		h.cost.note(fast)
	}
	require.False(t, h.cheap(), "a slow handler after 3 cheap samples")
	for range 5 {
		h.cost.note(fast)
	}
	require.True(t, h.cheap(), "a slow handler after 8 cheap samples")

	require.False(t, (&handler{kind: kindStreamHandler}).cheap())
	require.False(t, (&handler{kind: kindNotifyHandler}).cheap())
}
