package ws

import (
	"math"
	"net/http"
	"time"

	"github.com/plexus-ipc/plexus/wire"
)

// Subprotocol is the WebSocket subprotocol of plexus links. Both ends
// require it: the Handler refuses an upgrade request that does not offer
// it, and Dial refuses a server that does not select it, so that a plexus
// endpoint never exchanges frames with some other WebSocket application
// that happens to share its URL.
const Subprotocol = "plexus.v1"

// Defaults for Config fields left zero.
const (
	// DefaultMaxPayload is stream's default, so that a link behaves the
	// same whichever of the two carries it.
	DefaultMaxPayload = 16 << 20
	// DefaultWriteTimeout bounds the write of one message. It is generous
	// because one message may be a 16 MiB frame on a slow link.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultCloseTimeout bounds the close handshake: how long Close waits
	// for the peer to answer its close frame before it cuts the connection.
	DefaultCloseTimeout = time.Second
)

// Config tunes one Transport. The zero value is ready to use.
type Config struct {
	// MaxPayload is the largest payload of one frame, in either direction.
	// Both ends must agree: a frame above the receiver's limit is a
	// protocol violation that closes the link. The WebSocket read limit is
	// set to one descriptor plus MaxPayload. Zero or less means
	// DefaultMaxPayload; values above the 32-bit length field are capped.
	MaxPayload int
	// WriteTimeout bounds the write of one frame. A peer that does not
	// read for that long is treated as dead: Send fails with
	// ErrPeerDied and the link is torn down, so that a stalled client
	// cannot hold a sender, or the memory behind it, forever. Zero or less
	// means DefaultWriteTimeout. In the browser a write never waits (the
	// browser queues it), so it does not apply there.
	WriteTimeout time.Duration
	// CloseTimeout bounds the WebSocket close handshake that Close and a
	// protocol violation start. Zero or less means DefaultCloseTimeout.
	CloseTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if limit := uint64(math.MaxUint32); uint64(c.MaxPayload) > limit {
		c.MaxPayload = int(limit) // only reachable where int has 64 bits
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	return c
}

// readLimit is the largest message a Transport accepts: one descriptor and
// the largest payload.
func (c Config) readLimit() int64 { return int64(wire.DescSize) + int64(c.MaxPayload) }

// DialConfig configures Dial.
type DialConfig struct {
	Config
	// HTTPClient sends the upgrade request: TLS settings (its Transport's
	// TLSClientConfig), proxy, redirects. Nil means a client with
	// http.DefaultTransport's settings. Ignored in the browser, which makes
	// the request itself.
	HTTPClient *http.Client
	// Header is added to the upgrade request: Origin (for a server that
	// checks it), Authorization, cookies. Ignored in the browser, which
	// sets Origin and cookies itself and lets a page set nothing else.
	Header http.Header
}
