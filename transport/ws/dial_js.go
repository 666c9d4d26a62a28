//go:build js

package ws

import (
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// dialConn dials through the browser's WebSocket, which does the HTTP
// upgrade itself: the HTTP client and header options do not exist there,
// and there is no network connection to hold.
func dialConn(ctx context.Context, url string, _ DialConfig) (*websocket.Conn, *http.Response, io.Closer, error) {
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	return c, resp, nil, err
}
