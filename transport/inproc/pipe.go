package inproc

import (
	"sync/atomic"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"

	"github.com/plexus-ipc/plexus"
)

// frame is what travels through the queue: the descriptor by value and
// the payload by reference, which the receiver owns until Release.
type frame struct {
	d wire.Desc
	p []byte
}

// end is the state one side publishes to the other.
type end struct {
	closed atomic.Bool
	done   chan struct{} // closed by Close, for blocked peers to select on
}

// Transport is one end of a Pipe.
type Transport struct {
	max    int
	out    chan<- frame
	in     <-chan frame
	self   *end
	peer   *end
	allocs bufpool.AllocSet
}

var _ transport.Transport = (*Transport)(nil)

// Pipe returns the two ends of an in-process link.
func Pipe(cfg Config) (a, b *Transport) {
	cfg = cfg.withDefaults()
	ab := make(chan frame, cfg.QueueLen)
	ba := make(chan frame, cfg.QueueLen)
	ea := &end{done: make(chan struct{})}
	eb := &end{done: make(chan struct{})}
	a = &Transport{max: cfg.MaxPayload, out: ab, in: ba, self: ea, peer: eb}
	b = &Transport{max: cfg.MaxPayload, out: ba, in: ab, self: eb, peer: ea}
	return a, b
}

// MaxPayload is the largest payload of one frame.
func (t *Transport) MaxPayload() int { return t.max }

// Alloc returns a pooled buffer of n bytes with undefined contents. Send
// hands it to the peer without a copy; otherwise give it back with Free.
func (t *Transport) Alloc(n int) ([]byte, error) {
	if err := bufpool.CheckAlloc("inproc", n, t.max); err != nil {
		return nil, err
	}
	if err := t.state(); err != nil {
		return nil, err
	}
	return t.allocs.Alloc(n), nil
}

// Free returns a buffer from Alloc that will not be sent. Other slices are
// ignored.
func (t *Transport) Free(b []byte) { t.allocs.Free(b) }

// Send queues one frame, blocking while the queue is full until the peer
// receives or either side closes. It sets the payload fields of d and
// rejects, queueing nothing, a payload above MaxPayload (ResourceExhausted)
// or a descriptor with reserved bits set (InvalidArgument), as the stream
// transport does.
func (t *Transport) Send(d *wire.Desc, payload []byte) error {
	owned := t.allocs.Take(payload)
	p, err := t.prepare(d, payload, owned)
	if err != nil {
		if owned {
			bufpool.Put(payload)
		}
		return err
	}
	fr := frame{d: *d, p: p}
	select {
	case t.out <- fr:
		return nil
	default:
	}
	select {
	case t.out <- fr:
		return nil
	case <-t.self.done:
		err = errLinkClosed()
	case <-t.peer.done:
		err = errPeerDied()
	}
	bufpool.Put(p)
	return err
}

// prepare checks the frame and returns the payload the peer will own.
func (t *Transport) prepare(d *wire.Desc, payload []byte, owned bool) ([]byte, error) {
	n := len(payload)
	if n > t.max {
		return nil, plexus.Errorf(plexus.ResourceExhausted, "inproc: payload of %d bytes exceeds the %d-byte frame limit", n, t.max)
	}
	// Refused as the stream transport does, because a stream peer would
	// close the link over them; INLINE and SLOT Send simply clears.
	if d.HasReservedBits() {
		return nil, plexus.Errorf(plexus.InvalidArgument, "inproc: descriptor has reserved bits set (reserved %#x, flags %#x)", d.Reserved(), d.Flags())
	}
	if err := t.state(); err != nil {
		return nil, err
	}
	d.SetFlags(d.Flags() &^ (wire.FlagInline | wire.FlagSlot))
	clear(d[wire.InlineOffset:])
	d.SetLength(uint32(n))
	switch {
	case owned:
		return payload, nil
	case n == 0:
		return nil, nil
	}
	p := bufpool.Get(n)
	copy(p, payload)
	return p, nil
}

// Recv returns the next frame. Frames the peer sent before it closed are
// delivered first; then Recv reports ErrPeerDied.
func (t *Transport) Recv(f *transport.Frame) error {
	f.Payload = nil
	if t.self.closed.Load() {
		return errLinkClosed()
	}
	var fr frame
	select {
	case fr = <-t.in:
	default:
		select {
		case fr = <-t.in:
		case <-t.self.done:
			return errLinkClosed()
		case <-t.peer.done:
			// The peer's frames were queued before its Close, so one
			// more look finds any that the select did not pick.
			select {
			case fr = <-t.in:
			default:
				return errPeerDied()
			}
		}
	}
	f.Desc = fr.d
	f.Payload = fr.p
	return nil
}

// Release returns the frame's payload to the pool. A second Release of the
// same Frame does nothing.
func (t *Transport) Release(f *transport.Frame) {
	bufpool.Put(f.Payload)
	f.Payload = nil
}

// Close ends this side: its own calls fail with ErrLinkClosed and the
// peer's with ErrPeerDied once it has drained what was sent. Payloads
// already received stay valid until Release.
func (t *Transport) Close() error {
	if t.self.closed.CompareAndSwap(false, true) {
		close(t.self.done)
	}
	return nil
}

func (t *Transport) state() error {
	if t.self.closed.Load() {
		return errLinkClosed()
	}
	if t.peer.closed.Load() {
		return errPeerDied()
	}
	return nil
}

func errLinkClosed() error { return plexus.Errorf(plexus.LinkClosed, "inproc: link closed") }
func errPeerDied() error   { return plexus.Errorf(plexus.PeerDied, "inproc: peer closed the link") }
