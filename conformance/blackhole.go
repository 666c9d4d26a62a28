package conformance

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Blackhole decorates a transport.Transport with a switch that turns it into
// a peer that has stopped reading and writing without closing anything (a
// hung process, a stalled network): once Enable is called, Send drops
// every frame and reports success, and Recv never returns another frame,
// nor the inner transport's errors, until Close. Only keepalive can tell
// such a link from an idle one. Until Enable it is transparent, including
// the zero-copy ownership of Alloc'd payloads.
type Blackhole struct {
	inner transport.Transport
	on    atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}

	// allocs remembers the buffers Alloc handed out, so that a dropped
	// Send can give them back with Free (the Transport contract passes
	// their ownership to Send whether it succeeds or not) without calling
	// Free on a slice the transport never allocated.
	mu     sync.Mutex
	allocs map[*byte]struct{}
}

var _ transport.Transport = (*Blackhole)(nil)

// NewBlackhole wraps inner, which the Blackhole owns from now on.
func NewBlackhole(inner transport.Transport) *Blackhole {
	return &Blackhole{inner: inner, closed: make(chan struct{}), allocs: map[*byte]struct{}{}}
}

// Enable makes the link go silent in both directions. It is idempotent.
func (b *Blackhole) Enable() { b.on.Store(true) }

// Send forwards d and payload, or drops them once the link is silent.
func (b *Blackhole) Send(d *wire.Desc, payload []byte) error {
	owned := b.untrack(payload)
	if b.on.Load() {
		if owned {
			b.inner.Free(payload)
		}
		return nil
	}
	return b.inner.Send(d, payload)
}

// Alloc forwards to the inner transport and remembers the buffer.
func (b *Blackhole) Alloc(n int) ([]byte, error) {
	p, err := b.inner.Alloc(n)
	if err == nil && cap(p) > 0 {
		b.mu.Lock()
		b.allocs[unsafe.SliceData(p[:1])] = struct{}{}
		b.mu.Unlock()
	}
	return p, err
}

// Free forwards to the inner transport.
func (b *Blackhole) Free(p []byte) {
	b.untrack(p)
	b.inner.Free(p)
}

func (b *Blackhole) untrack(p []byte) bool {
	if cap(p) == 0 {
		return false
	}
	k := unsafe.SliceData(p[:1])
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.allocs[k]
	delete(b.allocs, k)
	return ok
}

// Recv forwards to the inner transport until the link goes silent; from
// then on it blocks until Close, dropping the frame it may have been
// receiving when Enable was called.
func (b *Blackhole) Recv(f *transport.Frame) error {
	if !b.on.Load() {
		err := b.inner.Recv(f)
		if !b.on.Load() {
			return err
		}
		if err == nil {
			b.inner.Release(f)
		}
	}
	<-b.closed
	f.Payload = nil
	return plexus.Errorf(plexus.LinkClosed, "blackhole: link closed")
}

// Release forwards to the inner transport.
func (b *Blackhole) Release(f *transport.Frame) { b.inner.Release(f) }

// MaxPayload forwards to the inner transport.
func (b *Blackhole) MaxPayload() int { return b.inner.MaxPayload() }

// Close closes the inner transport and releases a blocked Recv.
func (b *Blackhole) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return b.inner.Close()
}
