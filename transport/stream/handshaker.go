package stream

import "context"

// Handshaker is a connection with a handshake of its own to complete
// before its first byte, as a *tls.Conn: named by its method so that the
// packages every plugin links (this one, plugin) need not link crypto/tls.
type Handshaker interface {
	HandshakeContext(context.Context) error
}
