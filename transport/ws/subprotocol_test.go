//go:build !js

package ws_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/transport/ws"
)

// TestWrongSubprotocol: a client that does not offer plexus.v1 gets 400
// and a body that says what is required; one that offers it in another
// spelling first gets a close frame saying so.
func TestWrongSubprotocol(t *testing.T) {
	var refused refusals
	s := startServer(t, ws.HandlerConfig{OnRefused: refused.add})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, offer := range [][]string{{"other.v2"}, nil, {"plexus.v2", "plexus"}} {
		c, resp, err := websocket.Dial(ctx, s.URL, &websocket.DialOptions{Subprotocols: offer})
		require.Error(t, err, "offer %q", offer)
		require.Nil(t, c)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		body, _ := io.ReadAll(resp.Body)
		require.Contains(t, string(body), `subprotocol "plexus.v1" is required`)
	}
	require.Len(t, refused.list(), 3)
	require.ErrorContains(t, refused.list()[0], "other.v2")

	// The library matches subprotocols without regard to case and picks
	// the client's first spelling.
	c := rawClient(t, s.URL, &websocket.DialOptions{Subprotocols: []string{"PLEXUS.V1", ws.Subprotocol}})
	require.Equal(t, "PLEXUS.V1", c.Subprotocol())
	requireClosedWith(t, c, websocket.StatusPolicyViolation, "subprotocol plexus.v1 required")
	require.Len(t, refused.list(), 4)
	select {
	case tr := <-s.Links:
		t.Fatalf("a link without plexus.v1 reached Serve: %v", tr)
	default:
	}
}

// TestDialRefusesOtherServers: Dial fails, saying why, against a
// WebSocket server that does not select plexus.v1 and against a server
// that does not upgrade.
func TestDialRefusesOtherServers(t *testing.T) {
	other := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, _ = c.Read(ctx) // until the client's close
		_ = c.CloseNow()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ws.Dial(ctx, "ws://"+other.Listener.Addr().String(), ws.DialConfig{})
	require.ErrorContains(t, err, `the server selected subprotocol "", not "plexus.v1"`)

	plain := serveHTTP(t, http.NotFoundHandler())
	_, err = ws.Dial(ctx, "ws://"+plain.Listener.Addr().String(), ws.DialConfig{})
	require.ErrorContains(t, err, "404 Not Found")
}

// TestNotAnUpgrade: a plain HTTP request gets 426 from the Handler.
func TestNotAnUpgrade(t *testing.T) {
	var refused refusals
	s := startServer(t, ws.HandlerConfig{OnRefused: refused.add})
	resp, err := http.Get("http://" + s.Listener.Addr().String())
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	require.Len(t, refused.list(), 1)
}
