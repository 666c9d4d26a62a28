package retry

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestIdempotencyKey: every attempt of one call to an idempotent method
// carries the same key, each call its own; the caller's metadata is
// kept and its map left as it was; a key the caller set is kept; a
// method that is not idempotent gets none.
func TestIdempotencyKey(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services}, &s)
	md := plexus.Metadata{"trace": "t-1"}
	ctx := plexus.WithMetadata(context.Background(), md)

	keys := map[string]bool{}
	for call := range 2 {
		f.steps = []step{{err: peerDied()}, {err: unavailable()}}
		var resp plexus.Raw
		require.NoError(t, c.Invoke(ctx, getID, plexus.Raw("k"), &resp), "call %d", call)
		require.Equal(t, "ok", string(resp))
		at := f.attempts()[3*call:]
		require.Len(t, at, 3, "call %d: two failures, then success", call)
		key := at[0].md[session.IdempotencyKey]
		require.Regexp(t, hexKey, key)
		for i, a := range at {
			require.Equal(t, key, a.md[session.IdempotencyKey], "call %d attempt %d", call, i)
			require.Equal(t, "t-1", a.md["trace"], "call %d attempt %d", call, i)
		}
		keys[key] = true
	}
	require.Len(t, keys, 2, "each logical call has a key of its own")
	require.Equal(t, plexus.Metadata{"trace": "t-1"}, md, "the caller's map is not changed")

	own := plexus.WithMetadata(context.Background(), plexus.Metadata{session.IdempotencyKey: "caller-key"})
	f.steps = []step{{err: unavailable()}}
	require.NoError(t, c.Invoke(own, getID, plexus.Raw("k"), nil))
	for _, a := range f.attempts()[6:] {
		require.Equal(t, "caller-key", a.md[session.IdempotencyKey])
	}

	f.steps = []step{{err: notSent()}}
	require.NoError(t, c.Invoke(ctx, putID, plexus.Raw("v"), nil))
	for _, a := range f.attempts()[8:] {
		require.NotContains(t, a.md, session.IdempotencyKey, "Put is not idempotent")
		require.Equal(t, "t-1", a.md["trace"])
	}
}

// TestNotRetried: an error the policy does not retry ends the call at
// its first attempt, returned exactly as the Conn below gave it.
func TestNotRetried(t *testing.T) {
	appErr := &plexus.Status{Code: plexus.ApplicationError, Message: "key not found", Details: []byte{0x92}}
	for _, tc := range []struct {
		name   string
		method uint64
		err    error
	}{
		{"non-retryable status", getID, plexus.Errorf(plexus.InvalidArgument, "bad key")},
		{"deadline exceeded", getID, plexus.Errorf(plexus.DeadlineExceeded, "handler's deadline")},
		{"may have run, not idempotent", putID, peerDied()},
		{"unavailable, not idempotent", putID, unavailable()},
		{"application error", getID, appErr},
		{"typed application error, decoded", getID, errors.New("kv: no such key")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sleeps
			f := &fakeConn{steps: []step{{err: tc.err}}}
			c := newTestConn(t, f, Config{Services: services}, &s)
			err := c.Invoke(context.Background(), tc.method, plexus.Raw("x"), nil)
			require.Same(t, tc.err, err)
			require.Len(t, f.attempts(), 1)
			require.Empty(t, s.take(), "no backoff")
		})
	}
}

// TestApplicationErrorCodeRefused: an application error cannot be made
// retryable.
func TestApplicationErrorCodeRefused(t *testing.T) {
	_, err := NewConn(&fakeConn{}, Config{Default: Policy{RetryableCodes: []plexus.Code{plexus.ApplicationError}}})
	require.ErrorContains(t, err, "Config.Default.RetryableCodes holds APPLICATION_ERROR")
}

// TestNotSentRetriedEveryShape: a call that never left is tried again
// for a method that is not idempotent, in every call shape, and gives
// up after MaxAttempts saying so, its status intact.
func TestNotSentRetriedEveryShape(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services}, &s)
	ctx := context.Background()

	f.steps = []step{{err: notSent()}, {err: notSent()}}
	var resp plexus.Raw
	require.NoError(t, c.Invoke(ctx, putID, plexus.Raw("v"), &resp))
	require.Equal(t, "ok", string(resp))
	require.Len(t, f.attempts(), 3)

	f.steps = []step{{err: notSent()}}
	st, err := c.NewStream(ctx, putID, nil, false)
	require.NoError(t, err)
	require.NotNil(t, st)
	f.steps = []step{{err: notSent()}}
	require.NoError(t, c.Notify(ctx, putID, plexus.Raw("n")))
	at := f.attempts()
	require.Len(t, at, 7)
	require.Equal(t, []string{"stream", "stream", "notify", "notify"},
		[]string{at[3].shape, at[4].shape, at[5].shape, at[6].shape})
	require.Len(t, s.take(), 4, "one backoff before each retry")

	f.steps = []step{{err: notSent()}, {err: notSent()}, {err: notSent()}, {err: notSent()}}
	err = c.Notify(ctx, putID, plexus.Raw("n"))
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, Exhausted, re.Reason)
	require.Equal(t, DefaultMaxAttempts, re.Attempts)
	require.ErrorIs(t, err, session.ErrNotSent)
	require.ErrorIs(t, err, plexus.ErrPeerDied)
	require.Equal(t, plexus.PeerDied, plexus.CodeOf(err))
	require.Contains(t, err.Error(), "after 3 attempts")
	require.Len(t, f.attempts(), 7+DefaultMaxAttempts)
}

// TestStreamNotRetriedAfterOpen: a stream whose open may have reached
// the peer is not tried again, even for a method described idempotent.
func TestStreamNotRetriedAfterOpen(t *testing.T) {
	var s sleeps
	f := &fakeConn{steps: []step{{err: unavailable()}}}
	c := newTestConn(t, f, Config{Services: services}, &s)
	st, err := c.NewStream(context.Background(), getID, nil, true)
	require.Nil(t, st)
	require.True(t, errors.Is(err, plexus.ErrUnavailable))
	require.Len(t, f.attempts(), 1)
}

// TestRetriesAfterNotSent: a call that first was not sent and then may
// have run is not retried for a method that is not idempotent, and says
// it made two attempts.
func TestRetriesAfterNotSent(t *testing.T) {
	var s sleeps
	f := &fakeConn{steps: []step{{err: notSent()}, {err: peerDied()}}}
	c := newTestConn(t, f, Config{Services: services}, &s)
	err := c.Invoke(context.Background(), putID, plexus.Raw("v"), nil)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, NotRetryable, re.Reason)
	require.Equal(t, 2, re.Attempts)
	require.ErrorIs(t, err, plexus.ErrPeerDied)
	require.NotErrorIs(t, err, session.ErrNotSent, "the last attempt's error, not the first's")
	require.Len(t, f.attempts(), 2)
}

// TestDeadlineStopsRetries: with 100 ms left and a 1 s backoff, the call
// ends at once after its first failure, saying why, with that failure's
// status.
func TestDeadlineStopsRetries(t *testing.T) {
	f := &fakeConn{steps: []step{{err: unavailable()}}}
	c := newTestConn(t, f, Config{Services: services, Default: Policy{InitialBackoff: time.Second, MaxBackoff: 2 * time.Second}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := c.Invoke(ctx, getID, plexus.Raw("k"), nil)
	took := time.Since(t0)
	require.Less(t, took, 50*time.Millisecond, "returned at once, not at the deadline")
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, Deadline, re.Reason)
	require.Equal(t, 1, re.Attempts)
	require.Equal(t, plexus.Unavailable, plexus.CodeOf(err))
	require.ErrorIs(t, err, plexus.ErrUnavailable)
	require.Contains(t, err.Error(), "the next backoff would end after the call's deadline")
	require.Contains(t, err.Error(), "after 1 attempt")
	require.Len(t, f.attempts(), 1)
}

// TestCanceledDuringBackoff: a call whose context ends while it waits
// to retry returns then, with the last attempt's error.
func TestCanceledDuringBackoff(t *testing.T) {
	f := &fakeConn{steps: []step{{err: peerDied()}}}
	c := newTestConn(t, f, Config{Services: services, Default: Policy{InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Second}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	t0 := time.Now()
	err := c.Invoke(ctx, getID, plexus.Raw("k"), nil)
	require.Less(t, time.Since(t0), time.Second)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, ContextDone, re.Reason)
	require.ErrorIs(t, err, plexus.ErrPeerDied)
	require.Len(t, f.attempts(), 1)
}

// TestMaxAttemptsOne: no retries, and the Conn adds nothing: no key, no
// wrapping.
func TestMaxAttemptsOne(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services, Default: Policy{MaxAttempts: 1}}, &s)
	for _, e := range []error{notSent(), unavailable()} {
		f.steps = []step{{err: e}}
		err := c.Invoke(context.Background(), getID, plexus.Raw("k"), nil)
		require.Same(t, e, err)
	}
	at := f.attempts()
	require.Len(t, at, 2)
	for _, a := range at {
		require.NotContains(t, a.md, session.IdempotencyKey)
	}
	require.Empty(t, s.take())
}

// TestMethodPolicy: a method's own policy replaces the default for it
// alone, and keeps the method's idempotency.
func TestMethodPolicy(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services, Default: Policy{MaxAttempts: 2},
		Methods: map[uint64]Policy{getID: {MaxAttempts: 4, RetryableCodes: []plexus.Code{plexus.Aborted}}}}, &s)
	f.steps = []step{{err: plexus.Errorf(plexus.Aborted, "conflict")}, {err: plexus.Errorf(plexus.Aborted, "conflict")}, {err: plexus.Errorf(plexus.Aborted, "conflict")}}
	require.NoError(t, c.Invoke(context.Background(), getID, plexus.Raw("k"), nil))
	require.Len(t, f.attempts(), 4)

	f.steps = []step{{err: unavailable()}}
	err := c.Invoke(context.Background(), getID, plexus.Raw("k"), nil)
	require.True(t, errors.Is(err, plexus.ErrUnavailable))
	require.Len(t, f.attempts(), 5, "UNAVAILABLE is not among Get's own codes")

	f.steps = []step{{err: notSent()}, {err: notSent()}, {err: notSent()}}
	err = c.Invoke(context.Background(), putID, plexus.Raw("v"), nil)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, 2, re.Attempts, "Put has the default's two attempts")
}

// retained is a response that keeps a view of the received bytes.
type retained struct {
	plexus.Raw
	release func()
}

func (r *retained) Retain(release func()) { r.release = release }

// TestResponseFromSuccessOnly: the caller's response holds the successful
// attempt's decoding; an attempt that failed after decoding into it ends
// the retries; a Retainer response still gets its release.
func TestResponseFromSuccessOnly(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services}, &s)

	f.steps = []step{{err: unavailable()}, {decode: "second"}}
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), getID, plexus.Raw("k"), &resp))
	require.Equal(t, "second", string(resp))

	f.steps = []step{{err: unavailable(), decode: "partial"}}
	err := c.Invoke(context.Background(), getID, plexus.Raw("k"), &resp)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, Unrepeatable, re.Reason)
	require.Equal(t, 1, re.Attempts)
	require.Contains(t, err.Error(), "decoded into the response")
	require.Len(t, f.attempts(), 3)

	var r retained
	f.steps = []step{{err: peerDied()}, {decode: "view"}}
	require.NoError(t, c.Invoke(context.Background(), getID, plexus.Raw("k"), &r))
	require.Equal(t, "view", string(r.Raw))
	require.NotNil(t, r.release, "Retain reached the caller's response")
}

// TestLeaseRequest: a request lease is spent by a send that may have
// reached the peer, so such an attempt is the last; a lease that a
// retry after not-sent finds spent ends the call with the earlier error.
func TestLeaseRequest(t *testing.T) {
	var s sleeps
	f := &fakeConn{}
	c := newTestConn(t, f, Config{Services: services}, &s)
	lease := new(session.Lease)

	f.steps = []step{{err: unavailable()}}
	err := c.Invoke(context.Background(), getID, lease, nil)
	var re *Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, Unrepeatable, re.Reason)
	require.Len(t, f.attempts(), 1)

	first := notSent()
	f.steps = []step{{err: first}, {err: plexus.WithCause(plexus.FailedPrecondition, session.ErrLeaseSent, "lease already sent")}}
	err = c.Invoke(context.Background(), putID, lease, nil)
	require.ErrorAs(t, err, &re)
	require.Equal(t, Unrepeatable, re.Reason)
	require.Same(t, first, re.Err)
	require.Equal(t, 1, re.Attempts)
	require.Len(t, f.attempts(), 3)
}
