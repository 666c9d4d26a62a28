package stream

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"

	"github.com/plexus-ipc/plexus"
)

// copyMax is the largest payload copied into the write buffer. Below it a
// memory copy costs less than the write it lets concurrent senders share;
// above it the payload goes to the kernel from where it lies (writev), which
// is also how Alloc'd buffers of any useful size avoid a copy.
const copyMax = 4 << 10

// Conn is the byte stream a Transport runs over: a net.Conn is one (a Unix
// socket, TCP, TLS), and so is a socket adopted without package net
// (internal/sockconn), which is how a plugin, which must not link net (see
// the package comment), holds its socket link. The Transport itself sets
// no deadline; the handshake that runs on a Conn before it does.
type Conn interface {
	io.Reader
	io.Writer
	io.Closer
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Transport carries frames over one Conn. See the package comment for its
// lifetime and concurrency contract.
type Transport struct {
	conn   Conn
	max    int
	allocs bufpool.AllocSet

	// closed is set by Close before conn is closed, so the I/O errors that
	// follow read as ErrLinkClosed rather than as the peer's fault.
	closed atomic.Bool
	// connClosed: conn was closed already (a protocol violation closes
	// it on its own), so that Close reports no error for a second close.
	connClosed atomic.Bool
	// broken is the protocol violation that made the transport close conn
	// on its own; later calls report it.
	broken atomic.Pointer[plexus.Status]

	// waiting counts senders that want wmu. The holder leaves its frame in
	// wbuf when another sender is waiting: that sender will write both, so
	// a burst from many goroutines costs one write instead of one each.
	waiting atomic.Int32
	wmu     sync.Mutex
	wbuf    []byte // pending frames; cap is wlimit plus one descriptor
	wlimit  int
	iov     [2][]byte // wbuf and a large payload for one writev
	vw      vecWriter // writes iov (see writev_sys.go)
	werr    error     // sticky: a failed write may leave a torn frame

	// Read side, owned by the single goroutine in Recv.
	br   *bufio.Reader
	rerr error
}

var _ transport.Transport = (*Transport)(nil)

// New wraps conn, which the Transport owns from now on: it closes conn on
// Close and on a protocol violation. conn must not be read or written by
// anyone else.
func New(conn Conn, cfg Config) *Transport {
	cfg = cfg.withDefaults()
	t := &Transport{
		conn:   conn,
		max:    cfg.MaxPayload,
		br:     bufio.NewReaderSize(conn, cfg.BufferSize),
		wbuf:   make([]byte, 0, cfg.BufferSize+wire.DescSize),
		wlimit: cfg.BufferSize,
	}
	t.vw.init(conn)
	return t
}

// Conn returns the underlying connection for inspection (a net.Conn's
// addresses, TLS connection state, peer credentials). Reading, writing or
// changing its deadlines breaks the link.
func (t *Transport) Conn() Conn { return t.conn }

// MaxPayload is the largest payload of one frame, in either direction.
func (t *Transport) MaxPayload() int { return t.max }

// Alloc returns a pooled buffer of n bytes with undefined contents. Every
// Alloc'd buffer must go back through Send (which writes it without an
// extra copy when it is larger than a few KiB, and then returns it to the
// pool whatever the outcome) or through Free.
func (t *Transport) Alloc(n int) ([]byte, error) {
	return t.allocs.Checked("stream", n, t.max, t.closedErr)
}

// closedErr is the error of a call once the link is closed, nil before.
func (t *Transport) closedErr() error {
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	return nil
}

// Free returns a buffer from Alloc that will not be sent. Other slices are
// ignored.
func (t *Transport) Free(b []byte) { t.allocs.Free(b) }

// Send writes one frame. It sets the payload fields of d (clears INLINE
// and SLOT, zeroes bytes 36..63, sets Length) and rejects, writing nothing,
// a payload above MaxPayload (ResourceExhausted) or a descriptor with
// reserved bits set (InvalidArgument), since the peer would close the link
// over either. A nil return means the frame is queued to the kernel or, if
// other senders were waiting, to the sender that writes next.
func (t *Transport) Send(d *wire.Desc, payload []byte) error {
	owned := t.allocs.Take(payload)
	err := t.send(d, payload)
	if owned {
		bufpool.Put(payload)
	}
	return err
}

func (t *Transport) send(d *wire.Desc, payload []byte) error {
	n := len(payload)
	if n > t.max {
		return plexus.Errorf(plexus.ResourceExhausted, "stream: payload of %d bytes exceeds the %d-byte frame limit", n, t.max)
	}
	if d.HasReservedBits() {
		return plexus.Errorf(plexus.InvalidArgument, "stream: descriptor has reserved bits set (reserved %#x, flags %#x)", d.Reserved(), d.Flags())
	}
	d.SetFlags(d.Flags() &^ (wire.FlagInline | wire.FlagSlot))
	clear(d[wire.InlineOffset:])
	d.SetLength(uint32(n))

	t.waiting.Add(1)
	t.wmu.Lock()
	t.waiting.Add(-1)
	defer t.wmu.Unlock()
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	if b := t.broken.Load(); b != nil {
		return b
	}
	if t.werr != nil {
		return t.werr
	}
	t.wbuf = append(t.wbuf, d[:]...)
	if n <= copyMax && len(t.wbuf)+n <= t.wlimit {
		t.wbuf = append(t.wbuf, payload...)
		if t.waiting.Load() > 0 {
			return nil
		}
		return t.flush(nil)
	}
	return t.flush(payload)
}

// flush writes wbuf and then payload, in one writev where the connection
// supports it (TLS does not; it gets one record per buffer).
func (t *Transport) flush(payload []byte) error {
	var err error
	if len(payload) == 0 {
		_, err = t.conn.Write(t.wbuf)
	} else {
		t.iov = [2][]byte{t.wbuf, payload}
		err = t.vw.writev(&t.iov)
		t.iov = [2][]byte{} // do not pin the caller's payload
	}
	t.wbuf = t.wbuf[:0]
	if err != nil {
		t.werr = t.ioError(err, "write failed")
		return t.werr
	}
	return nil
}

// Recv reads the next frame. The descriptor is validated before anything
// is allocated for the payload; a violation closes the link.
func (t *Transport) Recv(f *transport.Frame) error {
	f.Payload = nil
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	if t.rerr != nil {
		return t.rerr
	}
	hdr, err := t.br.Peek(wire.DescSize)
	if err != nil {
		switch {
		case len(hdr) == 0 && err == io.EOF:
			return t.readFailed(err, "peer closed the connection")
		case err == io.EOF:
			return t.readFailed(io.ErrUnexpectedEOF, "connection closed inside a descriptor")
		}
		return t.readFailed(err, "read failed")
	}
	copy(f.Desc[:], hdr)
	_, _ = t.br.Discard(wire.DescSize) // cannot fail after Peek
	if err := checkDesc(&f.Desc, t.max); err != nil {
		return t.violate(err)
	}
	n := int(f.Desc.Length())
	if n == 0 {
		return nil
	}
	buf := bufpool.Get(n)
	if _, err := io.ReadFull(t.br, buf); err != nil {
		bufpool.Put(buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return t.readFailed(io.ErrUnexpectedEOF, "connection closed inside a payload")
		}
		return t.readFailed(err, "read failed")
	}
	f.Payload = buf
	return nil
}

// Release returns the frame's payload to the pool. It is safe on a frame
// whose Recv failed, and a second Release of the same Frame does nothing.
func (t *Transport) Release(f *transport.Frame) {
	bufpool.Put(f.Payload)
	f.Payload = nil
}

// Close closes the connection, which makes a blocked Recv or Send return
// ErrLinkClosed. Payloads already received stay valid until Release.
func (t *Transport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	if t.connClosed.Swap(true) {
		return nil // a protocol violation closed it first
	}
	return t.conn.Close()
}

func (t *Transport) readFailed(err error, msg string) error {
	t.rerr = t.ioError(err, msg)
	return t.rerr
}

func (t *Transport) violate(err *plexus.Status) error {
	t.broken.CompareAndSwap(nil, err)
	if !t.connClosed.Swap(true) {
		_ = t.conn.Close()
	}
	t.rerr = err
	return err
}

// ioError classifies an I/O error by who caused it: this side's Close, a
// protocol violation seen by Recv, or otherwise the peer or the network.
func (t *Transport) ioError(err error, msg string) *plexus.Status {
	if t.closed.Load() {
		return errLinkClosed(err)
	}
	if b := t.broken.Load(); b != nil {
		return b
	}
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		msg += ": " + err.Error()
	}
	return plexus.WithCause(plexus.PeerDied, err, "stream: "+msg)
}

func errLinkClosed(cause error) *plexus.Status {
	return plexus.WithCause(plexus.LinkClosed, cause, "stream: link closed")
}
