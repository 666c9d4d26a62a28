package session

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
)

// crowd makes n unary calls on s at once, each with the context ctxOf
// gives it, and returns their results as they end. The fake peer answers
// none of them unless the test does.
func crowd(s *Session, n int, ctxOf func(i int) context.Context) <-chan error {
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var resp plexus.Raw
			err := s.Invoke(ctxOf(i), 7, plexus.Raw("req"), &resp)
			if err == nil && string(resp) != "resp" {
				err = fmt.Errorf("response %q", resp)
			}
			errs <- err
		}()
	}
	return errs
}

// collect takes n results from errs, failing the test if they do not all
// come within the bound.
func collect(t *testing.T, errs <-chan error, n int) []error {
	t.Helper()
	var got []error
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case err := <-errs:
			got = append(got, err)
		case <-timeout:
			t.Fatalf("%d of %d calls ended within 10s", len(got), n)
		}
	}
	return got
}

// watchSession is a calling session over a fake link, its readers
// started, whose callers stop polling after a microsecond.
func watchSession(t *testing.T) (*Session, *pollReceiver, *fakePoller) {
	fp := newFakePoller(time.Microsecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	s.rx.start()
	return s, r, fp
}

// crowdOnOne makes n calls sharing one cancellable context, and waits
// until all are blocked on their channels.
func crowdOnOne(t *testing.T, s *Session, r *pollReceiver, n int) (context.Context, context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errs := crowd(s, n, func(int) context.Context { return ctx })
	eventually(t, func() bool { return r.waiters.Load() == int32(n) }, "every caller blocked")
	return ctx, cancel, errs
}

// Callers blocked together on one cancellable context: it is watched (they
// block on their channels alone), and its cancellation still ends every
// one of them, and frees the watch.
func TestCtxWatchCrowdEndsOnCancel(t *testing.T) {
	s, r, _ := watchSession(t)
	const n = 16
	ctx, cancel, errs := crowdOnOne(t, s, r, n)
	require.GreaterOrEqual(t, s.watch.started.Load(), int64(1), "a crowd's context is watched")
	require.True(t, s.watch.watching(ctx.Done()))

	cancel()
	for _, err := range collect(t, errs, n) {
		require.ErrorIs(t, err, plexus.ErrCanceled)
	}
	eventually(t, func() bool { return !s.watch.watching(ctx.Done()) }, "the ended context's watch is freed")
}

// Callers blocked on a watched context still get their responses.
func TestCtxWatchCrowdGetsResponses(t *testing.T) {
	s, r, fp := watchSession(t)
	const n = 16
	ctx, _, errs := crowdOnOne(t, s, r, n)
	require.True(t, s.watch.watching(ctx.Done()), "a crowd's context is watched")
	for i := range n {
		id := uint64(2*i + 1) // IDs reach the peer in order
		fp.expect(t, wire.KindOpen, id)
		fp.push(statusFrame(id, "resp"))
	}
	for _, err := range collect(t, errs, n) {
		require.NoError(t, err)
	}
	require.True(t, s.watch.watching(ctx.Done()), "a context that has not ended stays watched")
}

// Each caller with a context of its own (a call's timeout): nothing is
// watched, and each cancellation ends its own call.
func TestCtxWatchOwnContextsNotWatched(t *testing.T) {
	s, r, _ := watchSession(t)
	const n = 16
	cancels := make([]context.CancelFunc, n)
	ctxs := make([]context.Context, n)
	for i := range n {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		defer cancels[i]()
	}
	errs := crowd(s, n, func(i int) context.Context { return ctxs[i] })
	eventually(t, func() bool { return r.waiters.Load() == n }, "every caller blocked")
	require.Zero(t, s.watch.started.Load(), "no context is shared")
	for i := range n {
		cancels[i]()
		select {
		case err := <-errs:
			require.ErrorIs(t, err, plexus.ErrCanceled)
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d did not end at its cancellation", i)
		}
	}
}

// A watch whose context never ends ends with the session, and so do the
// calls blocked under it.
func TestCtxWatchEndsWithSession(t *testing.T) {
	s, r, _ := watchSession(t)
	const n = 8
	ctx, _, errs := crowdOnOne(t, s, r, n)
	require.True(t, s.watch.watching(ctx.Done()))
	require.NoError(t, s.Close())
	for _, err := range collect(t, errs, n) {
		require.Error(t, err)
		require.NotErrorIs(t, err, plexus.ErrCanceled, "the session ended them, not the context")
	}
	eventually(t, func() bool { return !s.watch.watching(ctx.Done()) }, "the watch ends with the session")
}

// A context that cannot end is never watched: the callers block on their
// channels alone, and still get their responses.
func TestCtxWatchBackground(t *testing.T) {
	s, r, fp := watchSession(t)
	const n = 4
	errs := crowd(s, n, func(int) context.Context { return context.Background() })
	for i := range n {
		fp.expect(t, wire.KindOpen, uint64(2*i+1))
	}
	eventually(t, func() bool { return r.waiters.Load() == n }, "every caller blocked")
	for i := range n {
		fp.push(statusFrame(uint64(2*i+1), "resp"))
	}
	for _, err := range collect(t, errs, n) {
		require.NoError(t, err)
	}
	require.Zero(t, s.watch.started.Load())
}
