//go:build !js

package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/ws"
	"github.com/plexus-ipc/plexus/wire"
)

// testServer is an httptest server on 127.0.0.1 serving ws.Handler. Links
// it accepts arrive on Links unless the config has its own Serve.
type testServer struct {
	*httptest.Server
	URL   string // ws://127.0.0.1:port
	Links chan *ws.Transport

	mu       sync.Mutex
	accepted []*ws.Transport
}

// startServer starts a server; the test's cleanup closes it and every link
// it accepted.
func startServer(t testing.TB, cfg ws.HandlerConfig) *testServer {
	t.Helper()
	s := &testServer{Links: make(chan *ws.Transport, 16)}
	if cfg.Serve == nil {
		cfg.Serve = func(_ context.Context, tr *ws.Transport) {
			s.mu.Lock()
			s.accepted = append(s.accepted, tr)
			s.mu.Unlock()
			select {
			case s.Links <- tr:
			default: // nobody wants it: the test has enough links
				_ = tr.Close()
			}
		}
	}
	s.Server = serveHTTP(t, ws.Handler(cfg))
	s.URL = "ws://" + s.Listener.Addr().String()
	t.Cleanup(s.shutdown)
	return s
}

// serveHTTP starts an httptest server for h on 127.0.0.1 (and on no other
// address, whatever httptest's flags say); the test's cleanup closes it.
func serveHTTP(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = listenLoopback(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// shutdown stops accepting and closes the links accepted so far. It may be
// called more than once.
func (s *testServer) shutdown() {
	s.Close()
	s.mu.Lock()
	links := s.accepted
	s.accepted = nil
	s.mu.Unlock()
	for _, tr := range links {
		_ = tr.Close()
	}
}

// listenLoopback listens on a free TCP port of 127.0.0.1.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// accept waits for the next link the server accepted.
func (s *testServer) accept(t testing.TB) *ws.Transport {
	t.Helper()
	select {
	case tr := <-s.Links:
		return tr
	case <-time.After(10 * time.Second):
		t.Fatal("the server accepted no link within 10 s")
		return nil
	}
}

// wsPair connects a Dial'd transport to the one the server accepts, each
// with MaxPayload max: the pair maker of the transport and conformance
// suites.
func wsPair(t *testing.T, max int) (dialed, accepted transport.Transport) {
	return dialPair(t, ws.Config{MaxPayload: max})
}

// dialPair connects a Dial'd transport to the one a new server accepts,
// both with cfg, and then closes the server (not the link): a test needs
// only the pair, and the conformance suite counts goroutines.
func dialPair(t testing.TB, cfg ws.Config) (dialed, accepted *ws.Transport) {
	t.Helper()
	s := startServer(t, ws.HandlerConfig{Config: cfg})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := ws.Dial(ctx, s.URL, ws.DialConfig{Config: cfg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	a := s.accept(t)
	t.Cleanup(func() { _ = a.Close() })
	s.Close()
	return d, a
}

// echo sends every frame tr receives back until the link fails, and
// returns why it failed.
func echo(tr transport.Transport) error {
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			return err
		}
		err := tr.Send(&f.Desc, f.Payload)
		tr.Release(&f)
		if err != nil {
			return err
		}
	}
}

// roundTrip sends one frame tagged seq with payload p and checks that the
// echo that comes back is the same frame.
func roundTrip(tr transport.Transport, seq uint64, p []byte) error {
	var d wire.Desc
	d.SetAux(seq)
	if err := tr.Send(&d, p); err != nil {
		return fmt.Errorf("send %d: %w", seq, err)
	}
	var f transport.Frame
	if err := tr.Recv(&f); err != nil {
		return fmt.Errorf("recv %d: %w", seq, err)
	}
	defer tr.Release(&f)
	if f.Desc.Aux() != seq || !bytes.Equal(f.Payload, p) {
		return fmt.Errorf("round trip %d: got frame %d with %d bytes", seq, f.Desc.Aux(), len(f.Payload))
	}
	return nil
}
