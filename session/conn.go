package session

import (
	"context"

	"github.com/plexus-ipc/plexus"
)

// Conn is what typed clients call through. *Session implements it; so
// does the host's plugin client, which routes each call to the current
// session of a plugin that may have been restarted since the client was
// made, so that generated clients never hold a session themselves.
//
// Invoke and Notify do not keep req, resp or m after they return (a
// Retainer response keeps only the received payload, until its release),
// so callers may reuse or pool them.
type Conn interface {
	Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error
	NewStream(ctx context.Context, method uint64, first plexus.Marshaler, closeSend bool) (*Stream, error)
	Notify(ctx context.Context, method uint64, m plexus.Marshaler) error
}

var _ Conn = (*Session)(nil)
