package ws

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"
)

// copyMax is the largest payload copied behind its descriptor into one
// buffer and written as one WebSocket frame. Larger payloads are written
// from where they lie, as a message of three frames (descriptor, payload,
// an empty final frame): the library sends each Write as a frame, and one
// copy of a large payload costs more than two frame headers.
const copyMax = 16 << 10

// Transport carries frames over one WebSocket connection. See the package
// comment for its lifetime and concurrency contract.
type Transport struct {
	c *websocket.Conn
	// raw is the network connection under c when Handler or Dial made the
	// Transport, nil from New. Closing it is the one way to end every
	// pending operation of the library at once: its own close handshake
	// waits up to 5 s per step, and a peer that stops inside a frame can
	// hold it until the connection dies.
	raw          io.Closer
	max          int
	writeTimeout time.Duration
	closeTimeout time.Duration
	allocs       bufpool.AllocSet

	// ctx is done once the link is torn down (cut cancels it).
	ctx    context.Context
	cancel context.CancelFunc
	// io bounds every call into c: ctx for a Transport from New, whose
	// cancellation makes the library close the connection under a read or
	// write in flight. With raw, closing raw does that, and io is never
	// done, which spares the library a context.AfterFunc per read and
	// write: 32 of the 37 allocations of a small unary call
	// (BenchmarkUnaryRoundTrip), and a fifth of its time.
	io context.Context

	// closed is set by Close before anything else, so the I/O errors that
	// follow read as ErrLinkClosed rather than as the peer's fault.
	closed atomic.Bool
	// fault is why this side tore the link down on its own (a protocol
	// violation, or a peer that stopped reading); later calls report it.
	fault atomic.Pointer[plexus.Status]

	stopOnce sync.Once
	stopping chan struct{} // closed when teardown starts: releases waiting senders
	stopped  chan struct{} // closed when the connection is closed

	// sem admits one message writer at a time: a WebSocket message cannot
	// interleave with another, and a channel (unlike a mutex) lets
	// SendContext give up waiting when its context ends.
	sem    chan struct{}
	wbuf   []byte              // descriptor and small payload, one frame
	whdr   [wire.DescSize]byte // descriptor of a large payload
	wtimer *time.Timer         // fires writeTimedOut when a write outlasts writeTimeout
	werr   error               // sticky: a failed write may have torn a message

	// Read side, owned by the single goroutine in Recv.
	dec  decoder
	rerr error
}

var (
	_ transport.Transport     = (*Transport)(nil)
	_ transport.ContextSender = (*Transport)(nil)
)

// New wraps conn, which the Transport owns from now on: nothing else may
// read, write or close it. New sets its read limit to one descriptor plus
// cfg.MaxPayload.
//
// A Transport from New has no handle on the network connection under conn,
// so a close that the peer stalls is bounded only by the library's own
// timeouts (see the package comment); Handler and Dial keep that handle
// and bound it by Config.CloseTimeout.
func New(conn *websocket.Conn, cfg Config) *Transport {
	return newTransport(context.Background(), conn, cfg, nil)
}

// newTransport is New with the network connection under conn (or nil), and
// with the parent of the context that ends when the link is torn down.
func newTransport(parent context.Context, conn *websocket.Conn, cfg Config, raw io.Closer) *Transport {
	cfg = cfg.withDefaults()
	conn.SetReadLimit(cfg.readLimit())
	ctx, cancel := context.WithCancel(parent)
	t := &Transport{
		c:            conn,
		raw:          raw,
		max:          cfg.MaxPayload,
		writeTimeout: cfg.WriteTimeout,
		closeTimeout: cfg.CloseTimeout,
		ctx:          ctx,
		cancel:       cancel,
		io:           ctx,
		stopping:     make(chan struct{}),
		stopped:      make(chan struct{}),
		sem:          make(chan struct{}, 1),
		dec:          decoder{max: cfg.MaxPayload},
	}
	if raw != nil {
		t.io = context.Background()
	}
	// Created stopped, and re-armed by every write: one timer for the
	// life of the link instead of one per frame.
	t.wtimer = time.AfterFunc(time.Duration(1<<62), t.writeTimedOut)
	t.wtimer.Stop()
	return t
}

// MaxPayload is the largest payload of one frame, in either direction.
func (t *Transport) MaxPayload() int { return t.max }

// Alloc returns a pooled buffer of n bytes with undefined contents. Every
// Alloc'd buffer must go back through Send (which returns it to the pool
// whatever the outcome) or through Free.
func (t *Transport) Alloc(n int) ([]byte, error) {
	return t.allocs.Checked("ws", n, t.max, t.closedErr)
}

// closedErr is the error of a call once the link is closed, nil before.
func (t *Transport) closedErr() error {
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	return nil
}

// AllocContext is Alloc: it never waits, so ctx has nothing to bound.
func (t *Transport) AllocContext(_ context.Context, n int) ([]byte, error) { return t.Alloc(n) }

// Free returns a buffer from Alloc that will not be sent. Other slices are
// ignored.
func (t *Transport) Free(b []byte) { t.allocs.Free(b) }

// Send writes one frame as one binary message; see SendContext.
func (t *Transport) Send(d *wire.Desc, payload []byte) error {
	return t.SendContext(context.Background(), d, payload)
}

// SendContext writes one frame as one binary message. It sets the payload
// fields of d (clears INLINE and SLOT, zeroes bytes 36..63, sets Length)
// and rejects, writing nothing, a payload above MaxPayload
// (ResourceExhausted) or a descriptor with reserved bits set
// (InvalidArgument), since the peer would close the link over either.
//
// ctx bounds only the wait for other senders' messages: if it ends first,
// SendContext returns DEADLINE_EXCEEDED or CANCELED with nothing sent and
// the link intact. The write itself is bounded by Config.WriteTimeout
// instead, because a WebSocket message abandoned halfway cannot be taken
// back: the library closes the connection when a write's context ends.
// A write that times out fails with ErrPeerDied and tears the link down.
func (t *Transport) SendContext(ctx context.Context, d *wire.Desc, payload []byte) error {
	owned := t.allocs.Take(payload)
	err := t.send(ctx, d, payload)
	if owned {
		bufpool.Put(payload)
	}
	return err
}

func (t *Transport) send(ctx context.Context, d *wire.Desc, payload []byte) error {
	n := len(payload)
	if n > t.max {
		return plexus.Errorf(plexus.ResourceExhausted, "ws: payload of %d bytes exceeds the %d-byte frame limit", n, t.max)
	}
	if d.HasReservedBits() {
		return plexus.Errorf(plexus.InvalidArgument, "ws: descriptor has reserved bits set (reserved %#x, flags %#x)", d.Reserved(), d.Flags())
	}
	d.SetFlags(d.Flags() &^ (wire.FlagInline | wire.FlagSlot))
	clear(d[wire.InlineOffset:])
	d.SetLength(uint32(n))

	select {
	case t.sem <- struct{}{}:
	case <-t.stopping:
		return t.downError()
	case <-ctx.Done():
		return ctxStatus(ctx)
	}
	defer func() { <-t.sem }()
	if t.closed.Load() || t.fault.Load() != nil {
		return t.downError()
	}
	if t.werr != nil {
		return t.werr
	}
	t.wtimer.Reset(t.writeTimeout)
	var err error
	if n <= copyMax {
		t.wbuf = append(append(t.wbuf[:0], d[:]...), payload...)
		err = t.c.Write(t.io, websocket.MessageBinary, t.wbuf)
	} else {
		t.whdr = *d
		err = t.writeParts(payload)
	}
	t.wtimer.Stop()
	if err != nil {
		t.werr = t.ioError(err, "write failed")
		return t.werr
	}
	return nil
}

// writeParts writes t.whdr and payload as one message without copying the
// payload.
func (t *Transport) writeParts(payload []byte) error {
	w, err := t.c.Writer(t.io, websocket.MessageBinary)
	if err != nil {
		return err
	}
	if _, err := w.Write(t.whdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Close()
}

// Recv reads the next message and decodes it into f. The descriptor is
// validated before anything is allocated for the payload; a malformed
// message closes the link with a close frame saying what was wrong, and
// Recv reports ErrProtocolViolation.
func (t *Transport) Recv(f *transport.Frame) error {
	f.Payload = nil
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	if t.rerr != nil {
		return t.rerr
	}
	typ, r, err := t.c.Reader(t.io)
	if err != nil {
		return t.readFailed(err)
	}
	v, err := t.dec.decode(typ, r, f)
	switch {
	case v != nil:
		return t.violated(v)
	case err != nil:
		return t.readFailed(err)
	}
	if t.closed.Load() {
		// Read while Close's handshake was under way: the caller asked
		// for no more frames, and the library discards what follows.
		t.Release(f)
		return errLinkClosed(nil)
	}
	return nil
}

// Release returns the frame's payload to the pool. It is safe on a frame
// whose Recv failed, and a second Release of the same Frame does nothing.
func (t *Transport) Release(f *transport.Frame) {
	bufpool.Put(f.Payload)
	f.Payload = nil
}

func (t *Transport) readFailed(err error) error {
	t.rerr = t.ioError(err, "read failed")
	return t.rerr
}

// violated tears the link down over a malformed message, telling the peer
// why in the close frame.
func (t *Transport) violated(v *violation) error {
	st := v.status()
	if !t.fault.CompareAndSwap(nil, st) {
		st = t.fault.Load()
	}
	t.rerr = st
	t.stop(v.code, v.reason)
	return st
}
