package ws

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Dial connects to a plexus WebSocket endpoint at url (ws://, wss://, or
// http:// and https://, which mean the same) offering the subprotocol
// plexus.v1, and fails unless the server selects it. ctx bounds the
// connection and the upgrade only; the link lives until Close. A refused
// upgrade reports the HTTP status and the start of the server's answer.
//
// Dial works in the browser (GOOS=js GOARCH=wasm) through the browser's
// WebSocket, which ignores DialConfig.HTTPClient and Header.
func Dial(ctx context.Context, url string, cfg DialConfig) (*Transport, error) {
	c, resp, raw, err := dialConn(ctx, url, cfg)
	if err != nil {
		return nil, dialError(url, resp, err)
	}
	t := newTransport(context.Background(), c, cfg.Config, raw)
	if p := c.Subprotocol(); p != Subprotocol {
		t.refuse("plexus: subprotocol " + Subprotocol + " required")
		return nil, fmt.Errorf("ws: dial %s: the server selected subprotocol %q, not %q", url, p, Subprotocol)
	}
	return t, nil
}

// dialError adds what the server answered, when it answered something
// other than an upgrade, to a failed dial.
func dialError(url string, resp *http.Response, err error) error {
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode == 0 {
		return fmt.Errorf("ws: dial %s: %w", url, err)
	}
	var body string
	if resp.Body != nil {
		// The library has already read up to 1 KiB of it into memory.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		body = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("ws: dial %s: server refused the upgrade: %s: %q: %w", url, resp.Status, body, err)
}
