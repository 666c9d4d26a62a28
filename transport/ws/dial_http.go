//go:build !js

//lint:file-ignore SA1019 hook reads http.Transport's deprecated Dial and DialTLS only to replace them with context forms

package ws

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// dialConn performs the upgrade with an HTTP client whose transport
// records the network connection it dials, so that the Transport can cut
// it (see Transport.raw). With an HTTP client whose transport is not an
// *http.Transport there is nothing to hook, and the Transport does
// without.
func dialConn(ctx context.Context, url string, cfg DialConfig) (*websocket.Conn, *http.Response, io.Closer, error) {
	client, tr, rec := recordingClient(cfg.HTTPClient)
	if tr != nil {
		// The upgraded connection has left the transport's pool; this
		// drops any other (after a redirect) with the transport.
		defer tr.CloseIdleConnections()
	}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   client,
		HTTPHeader:   cfg.Header,
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		return nil, resp, nil, err
	}
	return c, resp, rec.closer(), nil
}

// recordingClient returns a copy of base (nil: a default client) whose
// transport is a clone of base's that records the connections it dials.
func recordingClient(base *http.Client) (*http.Client, *http.Transport, *connRecorder) {
	var rt http.RoundTripper
	if base != nil {
		rt = base.Transport
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	ht, ok := rt.(*http.Transport)
	if !ok {
		return base, nil, nil
	}
	tr := ht.Clone()
	rec := new(connRecorder)
	rec.hook(tr)
	client := new(http.Client)
	if base != nil {
		*client = *base // keeps Jar, CheckRedirect and Timeout
	}
	client.Transport = tr
	return client, tr, rec
}

// connRecorder remembers the last network connection a transport dialed:
// for an upgrade request, the one that carries the WebSocket.
type connRecorder struct {
	mu   sync.Mutex
	conn net.Conn
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// hook wraps the transport's dialers. A user's http.Transport may set
// only the deprecated Dial and DialTLS: they are taken over as the
// context forms.
func (r *connRecorder) hook(tr *http.Transport) {
	dial := tr.DialContext
	if dial == nil && tr.Dial != nil {
		plain := tr.Dial
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return plain(network, addr) }
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.Dial = nil
	tr.DialContext = r.wrap(dial)
	if tr.DialTLSContext != nil {
		tr.DialTLSContext = r.wrap(tr.DialTLSContext)
	} else if tr.DialTLS != nil {
		plain := tr.DialTLS
		tr.DialTLS = nil
		tr.DialTLSContext = r.wrap(func(_ context.Context, network, addr string) (net.Conn, error) { return plain(network, addr) })
	}
}

func (r *connRecorder) wrap(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			r.set(c)
		}
		return c, err
	}
}

func (r *connRecorder) set(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		// Closing a TLS connection first writes a close_notify alert,
		// which waits (up to 5 s) on a peer that does not read.
		c = tc.NetConn()
	}
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
}

// closer is the recorded connection, or nil (not a nil net.Conn in an
// interface) when there is none.
func (r *connRecorder) closer() io.Closer {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return nil
	}
	return r.conn
}
