package session

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// leaseSink is a plugin's side that records every message that reaches
// it, by unary call, notification or stream, so that a test can tell that
// a refused send left nothing on the link (an empty message in particular,
// which is what a spent lease used to become).
type leaseSink struct {
	mu  sync.Mutex
	got []string // "unary:<bytes>", "notify:<bytes>", "stream:<bytes>"

	unary, notify, stream uint64
}

func newLeaseSink(t *testing.T) (*leaseSink, *Mux) {
	k := &leaseSink{}
	mux := NewMux()
	var err error
	k.unary, err = mux.HandleUnary("test.Sink", "Put", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		k.note("unary:" + string(req))
		return plexus.Raw("ok"), nil
	})
	require.NoError(t, err)
	k.notify, err = mux.HandleNotify("test.Sink", "Log", func(_ context.Context, msg []byte) {
		k.note("notify:" + string(msg))
	})
	require.NoError(t, err)
	k.stream, err = mux.HandleStream("test.Sink", "Feed", func(_ context.Context, st *Stream) error {
		// Bounded by the caller: it closes its side after a few messages.
		for {
			var m plexus.Raw
			if err := st.Recv(&m); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			k.note("stream:" + string(m))
		}
	})
	require.NoError(t, err)
	return k, mux
}

func (k *leaseSink) note(s string) {
	k.mu.Lock()
	k.got = append(k.got, s)
	k.mu.Unlock()
}

// seen waits until the sink holds want messages (notifications arrive
// after Notify returns), then returns them.
func (k *leaseSink) seen(t *testing.T, want int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.mu.Lock()
		got := append([]string(nil), k.got...)
		k.mu.Unlock()
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

func filledLease(t *testing.T, s *Session, text string) *Lease {
	t.Helper()
	l, err := s.Alloc(len(text))
	require.NoError(t, err)
	copy(l.Bytes(), text)
	return l
}

// requireLeaseRefused checks that err is the failure of a send of a spent
// (cause ErrLeaseSent) or released (ErrLeaseReleased) lease: a
// FAILED_PRECONDITION that names the problem.
func requireLeaseRefused(t *testing.T, err, cause error, text string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, cause)
	require.ErrorIs(t, err, &plexus.Status{Code: plexus.FailedPrecondition})
	require.ErrorContains(t, err, text)
	require.Equal(t, plexus.FailedPrecondition, plexus.CodeOf(err), "the top-level code, not INTERNAL")
}

// sends are the three ways a caller hands a lease to the session: as a
// unary request, a notification and a stream message. Each returns the
// send's error.
func leaseSends(k *leaseSink) map[string]func(ctx context.Context, s *Session, l *Lease) error {
	return map[string]func(ctx context.Context, s *Session, l *Lease) error{
		"Invoke": func(ctx context.Context, s *Session, l *Lease) error {
			var resp plexus.Raw
			return s.Invoke(ctx, k.unary, l, &resp)
		},
		"Notify": func(ctx context.Context, s *Session, l *Lease) error {
			return s.Notify(ctx, k.notify, l)
		},
		"Stream": func(ctx context.Context, s *Session, l *Lease) error {
			st, err := s.NewStream(ctx, k.stream, nil, false)
			if err != nil {
				return err
			}
			serr := st.Send(l)
			if err := st.CloseSend(); err != nil {
				return err
			}
			if err := st.Recv(nil); err != io.EOF {
				return errors.Join(serr, err)
			}
			return serr
		},
	}
}

var leasePrefix = map[string]string{"Invoke": "unary:", "Notify": "notify:", "Stream": "stream:"}

// TestLeaseSentTwice: a lease sent once and passed again fails with
// FAILED_PRECONDITION (ErrLeaseSent) and sends nothing, instead of going
// out as an empty message; the first send arrives whole. Both ways a lease
// is sent are covered: taken as it is (a lease of the session the call
// goes through) and copied (a lease of another session).
func TestLeaseSentTwice(t *testing.T) {
	k, mux := newLeaseSink(t)
	host, _ := pair(t, nil, mux)
	other, _ := pair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := []string{}
	for _, from := range []struct {
		name string
		s    *Session
	}{{"own", host}, {"foreign", other}} {
		for name, send := range leaseSends(k) {
			t.Run(from.name+"/"+name, func(t *testing.T) {
				l := filledLease(t, from.s, "payload-"+from.name+"-"+name)
				require.NoError(t, send(ctx, host, l))
				want = append(want, leasePrefix[name]+"payload-"+from.name+"-"+name)

				err := send(ctx, host, l)
				requireLeaseRefused(t, err, ErrLeaseSent, "lease already sent")
				l.Release() // after a send: does nothing, and must not panic

				// A send that works after the refused one: notifications
				// arrive in order, so once it is there the refused one
				// would have been too.
				require.NoError(t, send(ctx, host, filledLease(t, host, "after")))
				want = append(want, leasePrefix[name]+"after")
				require.Equal(t, want, k.seen(t, len(want)))
			})
		}
	}
}

// TestLeaseSendAfterRelease: a lease released before it was sent fails
// with FAILED_PRECONDITION (ErrLeaseReleased) and sends nothing.
func TestLeaseSendAfterRelease(t *testing.T) {
	k, mux := newLeaseSink(t)
	host, _ := pair(t, nil, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := []string{}
	for name, send := range leaseSends(k) {
		t.Run(name, func(t *testing.T) {
			l := filledLease(t, host, "never")
			l.Release()
			requireLeaseRefused(t, send(ctx, host, l), ErrLeaseReleased, "lease released")
			l.Release() // idempotent
			requireLeaseRefused(t, send(ctx, host, l), ErrLeaseReleased, "lease released")

			require.NoError(t, send(ctx, host, filledLease(t, host, "after")))
			want = append(want, leasePrefix[name]+"after")
			require.Equal(t, want, k.seen(t, len(want)))
		})
	}
}

// TestLeaseViewResentUntilRelease: a received view is copied when sent,
// so it may be sent more than once, until its Release; after that it is
// refused like any released lease.
func TestLeaseViewResentUntilRelease(t *testing.T) {
	k, sinkMux := newLeaseSink(t)
	mux := NewMux()
	give, err := mux.HandleUnary("test.Src", "Give", func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
		l, err := FromContext(ctx).Alloc(4)
		if err != nil {
			return nil, err
		}
		copy(l.Bytes(), "view")
		return l, nil
	})
	require.NoError(t, err)
	src, _ := pair(t, nil, mux)
	sink, _ := pair(t, nil, sinkMux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var view Lease
	require.NoError(t, src.Invoke(ctx, give, plexus.Raw("go"), &view))
	var resp plexus.Raw
	require.NoError(t, sink.Invoke(ctx, k.unary, &view, &resp))
	require.NoError(t, sink.Invoke(ctx, k.unary, &view, &resp))
	require.Equal(t, "view", string(view.Bytes()), "a view stays the receiver's after it is sent")
	view.Release()
	requireLeaseRefused(t, sink.Invoke(ctx, k.unary, &view, &resp), ErrLeaseReleased, "lease released")
	require.Equal(t, []string{"unary:view", "unary:view"}, k.seen(t, 2))
}

// TestLeaseRefusedCallThenSent: a call refused before it left (ErrNotSent)
// does not spend its lease: it can be sent once afterwards, and only once.
func TestLeaseRefusedCallThenSent(t *testing.T) {
	k, mux := newLeaseSink(t)
	host, _ := pair(t, nil, mux)
	draining, _ := pair(t, nil, mux)
	draining.mu.Lock()
	draining.draining = true
	draining.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	l := filledLease(t, draining, "kept")
	var resp plexus.Raw
	require.ErrorIs(t, draining.Invoke(ctx, k.unary, l, &resp), ErrNotSent)
	require.NoError(t, host.Invoke(ctx, k.unary, l, &resp))
	requireLeaseRefused(t, host.Invoke(ctx, k.unary, l, &resp), ErrLeaseSent, "lease already sent")
	require.Equal(t, []string{"unary:kept"}, k.seen(t, 1))
}

// TestLeaseHandlerReturnsSpent: a handler that returns a lease it already
// sent fails the call, instead of answering an empty response.
func TestLeaseHandlerReturnsSpent(t *testing.T) {
	mux := NewMux()
	var sendErr error
	echo, err := mux.HandleUnary("test.Echo", "Echo", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	spent, err := mux.HandleUnary("test.Echo", "Spent", func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
		s := FromContext(ctx)
		l, err := s.Alloc(5)
		if err != nil {
			return nil, err
		}
		copy(l.Bytes(), "first")
		var resp plexus.Raw
		sendErr = s.Invoke(ctx, echo, l, &resp) // the caller serves Echo too
		return l, nil
	})
	require.NoError(t, err)
	host, _ := pair(t, mux, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var resp plexus.Raw
	err = host.Invoke(ctx, spent, plexus.Raw("go"), &resp)
	require.NoError(t, sendErr)
	require.Error(t, err, "the response was %q", resp)
	require.ErrorContains(t, err, "lease already sent")
}
