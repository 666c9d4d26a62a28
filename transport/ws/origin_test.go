//go:build !js

package ws_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// refusals collects what a Handler's OnRefused is told.
type refusals struct {
	mu   sync.Mutex
	errs []error
}

func (r *refusals) add(_ *http.Request, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *refusals) list() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// dialWithOrigin tries a raw upgrade with the given Origin header and
// returns the HTTP status of the answer.
func dialWithOrigin(t *testing.T, url, origin string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{ws.Subprotocol},
		HTTPHeader:   http.Header{"Origin": {origin}},
	})
	if c != nil {
		_ = c.CloseNow()
	}
	require.NotNil(t, resp)
	return resp.StatusCode, err
}

// TestWrongOrigin: a page from another origin is refused with 403 while a
// link already up keeps working and a same-origin client still gets in.
func TestWrongOrigin(t *testing.T) {
	var refused refusals
	errs := make(chan error, 4)
	s := startServer(t, ws.HandlerConfig{OnRefused: refused.add, Serve: func(_ context.Context, tr *ws.Transport) {
		go func() {
			errs <- echo(tr)
			_ = tr.Close()
		}()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first, err := ws.Dial(ctx, s.URL, ws.DialConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = first.Close() })
	transporttest.Watchdog(t, 30*time.Second, first)
	require.NoError(t, roundTrip(first, 1, []byte("before")))

	status, err := dialWithOrigin(t, s.URL, "https://evil.example")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, status)
	_, err = ws.Dial(ctx, s.URL, ws.DialConfig{Header: http.Header{"Origin": {"https://evil.example"}}})
	require.ErrorContains(t, err, "403")
	require.Len(t, refused.list(), 2)
	require.ErrorContains(t, refused.list()[0], "evil.example")

	require.NoError(t, roundTrip(first, 2, []byte("after")), "the link that was up must not notice")
	same, err := ws.Dial(ctx, s.URL, ws.DialConfig{Header: http.Header{"Origin": {"http://" + s.Listener.Addr().String()}}})
	require.NoError(t, err, "a page of the server's own origin must get in")
	t.Cleanup(func() { _ = same.Close() })
	require.NoError(t, roundTrip(same, 3, []byte("same origin")))
	select {
	case err := <-errs:
		t.Fatalf("a served link failed: %v", err)
	default:
	}
}

// TestOriginPatterns: HandlerConfig.OriginPatterns lets the listed origins
// in, and only them.
func TestOriginPatterns(t *testing.T) {
	s := startServer(t, ws.HandlerConfig{OriginPatterns: []string{"app.example", "https://*.trusted.example"}})
	for _, c := range []struct {
		origin string
		status int
	}{
		{"https://app.example", http.StatusSwitchingProtocols},
		{"http://app.example", http.StatusSwitchingProtocols},
		{"https://ui.trusted.example", http.StatusSwitchingProtocols},
		{"http://ui.trusted.example", http.StatusForbidden},
		{"https://app.example.evil", http.StatusForbidden},
		{"https://evil.example", http.StatusForbidden},
	} {
		status, _ := dialWithOrigin(t, s.URL, c.origin)
		require.Equal(t, c.status, status, "origin %s", c.origin)
	}
	require.Panics(t, func() {
		ws.Handler(ws.HandlerConfig{OriginPatterns: []string{"[x"}, Serve: func(context.Context, *ws.Transport) {}})
	})
	require.Panics(t, func() { ws.Handler(ws.HandlerConfig{}) })
}
