//go:build !js

package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// HandlerConfig configures Handler.
type HandlerConfig struct {
	// Config applies to every accepted link.
	Config
	// Serve is handed every accepted link, on the request's goroutine
	// (required). It owns t: typically it starts a session over it
	// (session.New(t, ...)) and returns, or blocks until that session
	// ends; the link outlives the request either way. ctx carries the
	// request context's values (what middleware put there: the
	// authenticated user, say) and is done once t is torn down.
	Serve func(ctx context.Context, t *Transport)
	// OriginPatterns lists the origins, besides the server's own host,
	// whose pages may open links: host patterns matched as by
	// coder/websocket's AcceptOptions.OriginPatterns (path.Match, case
	// insensitive; a pattern containing "://" is matched against
	// scheme://host). A request from any other origin is refused with 403
	// Forbidden. A request without an Origin header (not from a browser)
	// is accepted: the check protects browsers' users from other sites'
	// pages, and anything else can forge the header anyway.
	OriginPatterns []string
	// OnRefused, if set, is told of every request refused before or during
	// the upgrade (wrong origin, missing subprotocol, not a WebSocket
	// request), after the refusal was written. It must not block.
	OnRefused func(r *http.Request, err error)
}

// Handler returns an http.Handler that upgrades requests to plexus links
// and hands each to cfg.Serve. It refuses, each with an HTTP error that
// says why and without disturbing other links:
//
//   - a request from a cross origin that OriginPatterns does not allow
//     (403 Forbidden);
//   - a WebSocket request that does not offer the subprotocol plexus.v1
//     (400 Bad Request);
//   - anything but a WebSocket upgrade (426 Upgrade Required, or the
//     status the library picks for a malformed one).
//
// TLS is the http.Server's business (ListenAndServeTLS, or a TLS
// listener): serve this handler over it for wss:// links. Compression is
// not negotiated: frames are mostly small and compressing them costs more
// than it saves on the links plexus serves.
//
// Handler panics if cfg.Serve is nil or an origin pattern is malformed.
func Handler(cfg HandlerConfig) http.Handler {
	if cfg.Serve == nil {
		panic("ws: HandlerConfig.Serve is nil")
	}
	for _, p := range cfg.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			panic(fmt.Sprintf("ws: malformed origin pattern %q: %v", p, err))
		}
	}
	return &handler{cfg: cfg, opts: &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: slices.Clone(cfg.OriginPatterns),
	}}
}

type handler struct {
	cfg  HandlerConfig
	opts *websocket.AcceptOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The library would upgrade a client that offers no subprotocol it
	// knows, selecting none; the check comes first so that such a client
	// gets an HTTP answer that says what is missing.
	if hasToken(r.Header, "Upgrade", "websocket", true) && !hasToken(r.Header, "Sec-WebSocket-Protocol", Subprotocol, false) {
		http.Error(w, fmt.Sprintf("plexus: the WebSocket subprotocol %q is required", Subprotocol), http.StatusBadRequest)
		h.refused(r, fmt.Errorf("ws: the client offered subprotocols %q, not %q", r.Header.Values("Sec-WebSocket-Protocol"), Subprotocol))
		return
	}
	hw := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, h.opts)
	if err != nil {
		h.refused(r, err) // Accept has written the answer
		return
	}
	t := newTransport(context.WithoutCancel(r.Context()), c, h.cfg.Config, hw.closer())
	if p := c.Subprotocol(); p != Subprotocol {
		// The library matches subprotocols without regard to case; a
		// client that offered another spelling first gets here.
		h.refused(r, fmt.Errorf("ws: the client's subprotocol is %q, not %q", p, Subprotocol))
		t.refuse("plexus: subprotocol " + Subprotocol + " required")
		return
	}
	h.cfg.Serve(t.ctx, t)
}

func (h *handler) refused(r *http.Request, err error) {
	if h.cfg.OnRefused != nil {
		h.cfg.OnRefused(r, err)
	}
}

// hasToken reports whether a comma-separated list in header key holds
// token: without regard to case for Upgrade's "websocket" (RFC 6455 says
// so), exactly for a subprotocol.
func hasToken(h http.Header, key, token string, fold bool) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == token || fold && strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

// hijackRecorder keeps the network connection that Accept hijacks, so
// that the Transport can cut it (see Transport.raw).
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = c
	if tc, ok := c.(*tls.Conn); ok {
		// Closing a TLS connection first writes a close_notify alert,
		// which waits (up to 5 s) on a peer that does not read.
		h.conn = tc.NetConn()
	}
	return c, brw, nil
}

// Unwrap lets http.ResponseController find the writer's other methods.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijackRecorder) closer() io.Closer {
	if h.conn == nil {
		return nil
	}
	return h.conn
}
