package retry

import (
	"context"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Conn is a session.Conn that retries the calls made through it as its
// Config says (see the package documentation for when); NewConn makes
// one. Typed clients
// take it as they take the Conn it wraps:
//
//	conn, err := retry.NewConn(hostClient, retry.Config{Services: []plexus.ServiceDesc{kv.StoreServiceDesc}})
//	store := kv.NewStoreClient(conn)
type Conn struct {
	conn session.Conn
	t    *table
	// sleep waits d or until ctx ends; tests replace it to see the
	// backoffs asked for without waiting them.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ session.Conn = (*Conn)(nil)

// NewConn returns conn with the retries cfg describes. It checks cfg and
// fails naming the first field with a bad value.
func NewConn(conn session.Conn, cfg Config) (*Conn, error) {
	if conn == nil {
		return nil, errNilConn
	}
	t, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	return &Conn{conn: conn, t: t, sleep: sleepCtx}, nil
}

// Invoke makes a unary call, retried as the method's policy says. resp
// is written only by an attempt that decoded a response; the call's
// metadata gains an idempotency key (session.IdempotencyKey) when the
// method is idempotent and may be retried after reaching the peer.
func (c *Conn) Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error {
	p := c.t.lookup(method)
	rerun := p.mayRerun()
	dst, g := resp, (*guard)(nil)
	if rerun {
		ctx = withKey(ctx)
		dst, g = guarded(resp)
	}
	return c.run(ctx, p, rerun, req, g, func() error { return c.conn.Invoke(ctx, method, req, dst) })
}

// NewStream opens a streaming call. Only an open that never left
// (session.ErrNotSent) is tried again: once open, a stream's messages
// may have been seen by the peer, and the stream is the caller's.
func (c *Conn) NewStream(ctx context.Context, method uint64, first plexus.Marshaler, closeSend bool) (*session.Stream, error) {
	var st *session.Stream
	err := c.run(ctx, c.t.lookup(method), false, first, nil, func() error {
		var err error
		st, err = c.conn.NewStream(ctx, method, first, closeSend)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Notify sends a notification, tried again only if it never left
// (session.ErrNotSent): a notification has no answer to tell whether one
// that left was handled.
func (c *Conn) Notify(ctx context.Context, method uint64, m plexus.Marshaler) error {
	return c.run(ctx, c.t.lookup(method), false, m, nil, func() error { return c.conn.Notify(ctx, method, m) })
}

// sleepCtx waits d, or until ctx ends, then returning its error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
