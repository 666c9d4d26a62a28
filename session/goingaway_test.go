package session

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestGoingAway: GoingAway is open until this side sends GOAWAY, and is
// closed by GoAway and by Drain; a handler of a long-lived stream that
// ends its call on it lets Drain finish at once rather than at its
// deadline.
func TestGoingAway(t *testing.T) {
	host, _ := pair(t, nil, nil)
	select {
	case <-host.GoingAway():
		t.Fatal("closed before GOAWAY")
	default:
	}
	host.GoAway("test")
	select {
	case <-host.GoingAway():
	default:
		t.Fatal("open after GoAway")
	}
	host.GoAway("again") // idempotent: closes nothing twice

	mux := NewMux()
	watch, err := mux.HandleStream("test.Watch", "Watch", func(ctx context.Context, st *Stream) error {
		select {
		case <-FromContext(ctx).GoingAway():
			return plexus.Errorf(plexus.Unavailable, "going away")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	require.NoError(t, err)
	host, plugin := pair(t, mux, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := plugin.NewStream(ctx, watch, plexus.Raw{}, true)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		host.mu.Lock()
		defer host.mu.Unlock()
		return host.chans.len() == 1
	}, 10*time.Second, time.Millisecond, "the host serves the call")
	require.NoError(t, host.Drain(ctx), "the watch ended when the drain began, well before the deadline")
	err = st.Recv(nil)
	require.NotEqual(t, io.EOF, err)
	require.Equal(t, plexus.Unavailable, plexus.CodeOf(err))
}
