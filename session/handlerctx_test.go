package session

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestFromContext: a handler's context (and one derived from it) names the
// session that serves the call, on the side that serves it; a lease the
// handler allocates there is a valid response; other contexts name none.
func TestFromContext(t *testing.T) {
	mux := NewMux()
	seen := make(chan *Session, 4)
	unary, err := mux.HandleUnary("test.Ctx", "Unary", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		derived, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		s := FromContext(derived)
		seen <- s
		l, err := s.Alloc(len(req) + 1)
		if err != nil {
			return nil, err
		}
		copy(l.Bytes(), req)
		l.Bytes()[len(req)] = '!'
		return l, nil
	})
	require.NoError(t, err)
	stream, err := mux.HandleStream("test.Ctx", "Stream", func(ctx context.Context, st *Stream) error {
		seen <- FromContext(st.Context())
		return nil
	})
	require.NoError(t, err)
	notify, err := mux.HandleNotify("test.Ctx", "Note", func(ctx context.Context, msg []byte) {
		seen <- FromContext(ctx)
	})
	require.NoError(t, err)

	host, plugin := pair(t, mux, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Nil(t, FromContext(ctx), "a caller's context belongs to no handler")

	var resp Lease
	require.NoError(t, host.Invoke(ctx, unary, plexus.Raw("hello"), &resp))
	require.Equal(t, "hello!", string(resp.Bytes()))
	resp.Release()
	require.Same(t, plugin, <-seen, "the serving side's session, not the caller's")
	require.NoError(t, plugin.Invoke(ctx, unary, plexus.Raw("back"), &resp))
	require.Equal(t, "back!", string(resp.Bytes()))
	resp.Release()
	require.Same(t, host, <-seen, "calls the other way are served by the host's session")

	st, err := host.NewStream(ctx, stream, nil, true)
	require.NoError(t, err)
	require.Equal(t, io.EOF, st.Recv(nil))
	require.Same(t, plugin, <-seen)

	require.NoError(t, host.Notify(ctx, notify, plexus.Raw("x")))
	select {
	case s := <-seen:
		require.Nil(t, s, "a notification belongs to no call")
	case <-time.After(10 * time.Second):
		t.Fatal("notification not handled")
	}
}
