//go:build !js

package ws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/transport/ws"
)

type userKey struct{}

// TestHandlerContext: the context Serve gets carries the request's values,
// outlives the request, and is done once the link is torn down.
func TestHandlerContext(t *testing.T) {
	type accepted struct {
		ctx context.Context
		tr  *ws.Transport
	}
	got := make(chan accepted, 1)
	h := ws.Handler(ws.HandlerConfig{Serve: func(ctx context.Context, tr *ws.Transport) {
		got <- accepted{ctx, tr}
	}})
	withUser := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "alice")))
	})
	srv := serveHTTP(t, withUser)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := ws.Dial(ctx, "ws://"+srv.Listener.Addr().String(), ws.DialConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	var a accepted
	select {
	case a = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no link")
	}
	t.Cleanup(func() { _ = a.tr.Close() })
	transporttest.Watchdog(t, 30*time.Second, d, a.tr)
	require.Equal(t, "alice", a.ctx.Value(userKey{}))

	go func() { _ = echo(a.tr) }()
	require.NoError(t, roundTrip(d, 1, []byte("after ServeHTTP returned")))
	require.NoError(t, a.ctx.Err(), "the link's context ended with the request")

	require.NoError(t, d.Close())
	select {
	case <-a.ctx.Done():
		t.Fatal("the context ended before the server's end was torn down")
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, a.tr.Close())
	select {
	case <-a.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context outlived Close")
	}
}

// TestTLS: wss:// through an http.Server with TLS, the client trusting the
// server's certificate through DialConfig.HTTPClient.
func TestTLS(t *testing.T) {
	links := make(chan *ws.Transport, 1)
	h := ws.Handler(ws.HandlerConfig{Serve: func(_ context.Context, tr *ws.Transport) { links <- tr }})
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = listenLoopback(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := ws.Dial(ctx, "wss://"+srv.Listener.Addr().String(), ws.DialConfig{HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	var a *ws.Transport
	select {
	case a = <-links:
	case <-time.After(10 * time.Second):
		t.Fatal("no link")
	}
	t.Cleanup(func() { _ = a.Close() })
	transporttest.Watchdog(t, 30*time.Second, d, a)
	go func() { _ = echo(a) }()
	for i := range 10 {
		require.NoError(t, roundTrip(d, uint64(i), transporttest.Pattern(i*5000, uint64(i))))
	}

	// Without a TLS client that trusts it, the server is refused.
	_, err = ws.Dial(ctx, "wss://"+srv.Listener.Addr().String(), ws.DialConfig{})
	require.ErrorContains(t, err, "certificate")

	start := time.Now()
	require.NoError(t, d.Close())
	require.Less(t, time.Since(start), 2*time.Second)
	var f transport.Frame
	require.ErrorIs(t, d.Recv(&f), plexus.ErrLinkClosed)
}
