package shmlink

import (
	"context"
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/wire"
)

// Recycled blob buffers, sending side. A fresh memfd costs far more than
// the copy into it (every page is zeroed on first touch, and the receiver
// maps and unmaps it), so a sender keeps blob buffers for reuse: memfds it
// created, sized to a power of two, sealed against resizing but not against
// writes, pre-faulted once and kept mapped. The first BLOB descriptor that
// names a buffer is preceded by a ctlBuffer message carrying its descriptor
// and a new buffer ID; later ones name the ID alone. The receiver keeps its
// mapping of every buffer it was given and answers each Release with
// ctlFree; the buffer then goes back to this side's free list. Buffers the
// cache must drop to stay under its bound are announced with ctlForget
// before their bytes count as gone, so that the peer never holds more of
// them than the bound. A payload that does not fit travels in a fresh
// memfd (ctlBlob), as every blob did before.

// The protocol's messages (ctlBuffer, ctlFree, ctlForget) are defined with
// the control socket, in control_linux.go.
const (
	// bufSeals keep a buffer's size fixed (no SIGBUS under the
	// receiver's mapping) and its pages in place (F_SEAL_FUTURE_WRITE: no
	// hole can be punched, so the receiver never pays for a page), while
	// the sender's own mapping, made before, stays writable for the next
	// payload.
	bufSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL
	// bufRequired are the seals the receiver insists on, with either
	// F_SEAL_WRITE or F_SEAL_FUTURE_WRITE.
	bufRequired = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW
)

type bufState uint8

const (
	bufFree   bufState = iota // in the free list
	bufCaller                 // out with the caller (Alloc) or being filled by Send
	bufPeer                   // named by a BLOB descriptor the peer has not freed
)

// blobBuf is one recycled buffer.
type blobBuf struct {
	c     *blobCache
	id    uint64 // 0 until announced to the peer
	fd    int
	mem   []byte // the whole buffer, writable
	state bufState
	used  uint64 // cache clock when last put back, for eviction
	lease lease  // what Alloc hands out for this buffer (one at a time)
}

// blobCache holds this side's buffers. Its lock is never held across a
// system call that can block.
type blobCache struct {
	mu     sync.Mutex
	limit  int64 // 0: no cache
	total  int64 // bytes of live buffers, reserved ones, and evicted ones not yet forgotten
	free   map[int][]*blobBuf
	known  map[uint64]*blobBuf // buffers the peer knows, by ID
	clock  uint64
	closed bool
	stats  *blobStats
}

// bufClass is the size of the buffer that holds n bytes.
func bufClass(n int) int {
	if n <= pageSize {
		return pageSize
	}
	return 1 << bits.Len(uint(n-1))
}

// getBuf takes a buffer for n bytes from the free list or makes one. It
// returns nil (and no error) when the cache is off, closed, or full of
// buffers in use: the blob then travels in a fresh memfd. Free buffers of
// other sizes are evicted, oldest first, to make room; the peer has
// forgotten them, and they are unmapped, before the new buffer exists, so
// that neither side ever holds more than the bound.
func (bs *blobs) getBuf(n int) (*blobBuf, error) {
	c := &bs.cache
	size := bufClass(n)
	if int64(size) > c.limit {
		return nil, nil
	}
	if b, closed := c.take(size); b != nil || closed {
		return b, nil
	}
	// The peer may have freed one a moment ago: its ctlFree is sent
	// before the frame that tells this side the payload was consumed, but
	// the monitor may not have run yet.
	bs.t.ctl.poll()
	for range 3 { // others may take the room an eviction made
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, nil
		}
		if b := c.takeLocked(size); b != nil {
			c.mu.Unlock()
			return b, nil
		}
		if c.total+int64(size) <= c.limit {
			c.total += int64(size)
			c.mu.Unlock()
			b, err := newBuf(c, size)
			if err != nil {
				c.mu.Lock()
				c.total -= int64(size)
				c.mu.Unlock()
				return nil, err
			}
			c.stats.created.Add(1)
			return b, nil
		}
		idle := int64(0)
		for sz, l := range c.free {
			idle += int64(sz) * int64(len(l))
		}
		if c.total-idle+int64(size) > c.limit {
			c.mu.Unlock()
			return nil, nil // evicting every free buffer would not make room
		}
		var victims []*blobBuf
		gone := int64(0)
		for c.total-gone+int64(size) > c.limit {
			v := c.oldestFreeLocked()
			if v == nil {
				break
			}
			victims = append(victims, v)
			gone += int64(len(v.mem))
		}
		c.mu.Unlock()
		if len(victims) == 0 {
			return nil, nil
		}
		bs.evict(victims, gone)
	}
	return nil, nil
}

// take pops a free buffer of size bytes; it reports whether the cache is
// closed.
func (c *blobCache) take(size int) (*blobBuf, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, true
	}
	return c.takeLocked(size), false
}

func (c *blobCache) takeLocked(size int) *blobBuf {
	l := c.free[size]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1]
	l[len(l)-1] = nil
	c.free[size] = l[:len(l)-1]
	b.state = bufCaller
	c.stats.reused.Add(1)
	return b
}

// oldestFreeLocked removes the free buffer put back longest ago from the
// free list and from known.
func (c *blobCache) oldestFreeLocked() *blobBuf {
	var v *blobBuf
	vi := 0
	for _, l := range c.free {
		for i, b := range l {
			if v == nil || b.used < v.used {
				v, vi = b, i
			}
		}
	}
	if v == nil {
		return nil
	}
	size := len(v.mem)
	l := c.free[size]
	l[vi] = l[len(l)-1]
	l[len(l)-1] = nil
	c.free[size] = l[:len(l)-1]
	if v.id != 0 {
		delete(c.known, v.id)
	}
	return v
}

// evict tells the peer to forget victims, drops them, and only then stops
// counting their bytes. A failed message means a link going down, whose
// peer drops everything anyway.
func (bs *blobs) evict(victims []*blobBuf, bytes int64) {
	for _, v := range victims {
		if v.id != 0 {
			_, _ = bs.t.ctl.send(context.Background(), ctlForget, v.id, -1)
		}
		v.destroy()
	}
	c := &bs.cache
	c.mu.Lock()
	c.total -= bytes
	c.mu.Unlock()
	c.stats.evicted.Add(int64(len(victims)))
}

// newBuf creates a buffer of size bytes, sealed against resizing and
// pre-faulted, so that neither side ever touches a fresh page of it on the
// call path.
func newBuf(c *blobCache, size int) (*blobBuf, error) {
	fd, err := newBlobFd()
	if err != nil {
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(size, "ftruncate", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(size, "mmap", err)
	}
	// Write faults, so that the first payload's writes find every page
	// present and writable.
	if err := shm.Prefault(mem); err != nil {
		_ = unix.Munmap(mem)
		_ = unix.Close(fd)
		return nil, blobErr(size, "pre-fault", err)
	}
	// Sealed after the writable mapping exists and every page is there:
	// F_SEAL_FUTURE_WRITE refuses new writable mappings, not this one.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, bufSeals); err != nil {
		_ = unix.Munmap(mem)
		_ = unix.Close(fd)
		return nil, blobErr(size, "seal", err)
	}
	return &blobBuf{c: c, fd: fd, mem: mem, state: bufCaller}, nil
}

func (b *blobBuf) destroy() {
	_ = unix.Munmap(b.mem)
	_ = unix.Close(b.fd)
	b.mem, b.fd = nil, -1
}

// putBack returns a buffer that is out with this side (Free, a failed
// Send) to the free list, or drops it once the link is closed.
func (c *blobCache) putBack(b *blobBuf) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		b.destroy()
		return
	}
	c.freeLocked(b)
	c.mu.Unlock()
}

func (c *blobCache) freeLocked(b *blobBuf) {
	size := len(b.mem)
	if c.free == nil {
		c.free = make(map[int][]*blobBuf)
	}
	c.clock++
	b.state, b.used = bufFree, c.clock
	c.free[size] = append(c.free[size], b)
}

// peerFreed handles the peer's ctlFree for buffer id: it must be a buffer
// this side sent and the peer has not freed yet.
func (c *blobCache) peerFreed(id uint64) *plexus.Status {
	c.mu.Lock()
	b := c.known[id]
	if b == nil || b.state != bufPeer {
		c.mu.Unlock()
		return violation("free of blob buffer %d, which is not out with the peer", id)
	}
	if c.closed {
		delete(c.known, id)
		c.mu.Unlock()
		b.destroy()
		return nil
	}
	c.freeLocked(b)
	c.mu.Unlock()
	return nil
}

// close drops every buffer except those out with the caller, which their
// Free or Send drops.
func (c *blobCache) close() {
	c.mu.Lock()
	c.closed = true
	var drop []*blobBuf
	for size, l := range c.free {
		drop = append(drop, l...)
		delete(c.free, size)
	}
	for id, b := range c.known {
		if b.state == bufPeer {
			drop = append(drop, b)
		}
		delete(c.known, id)
	}
	c.mu.Unlock()
	for _, b := range drop {
		b.destroy()
	}
}

// leaseBuf hands buffer b to the caller of Alloc as n writable bytes.
func (bs *blobs) leaseBuf(b *blobBuf, n int) []byte {
	l := &b.lease
	l.fd, l.mem, l.buf = -1, b.mem[:n:n], b
	bs.leaseMu.Lock()
	bs.leases[l] = struct{}{}
	bs.leaseMu.Unlock()
	bs.nleases.Add(1)
	return l.mem
}

// sendLeased sends n bytes at off of a lease from Alloc as the BLOB
// descriptor w[0]; the lease is used up whatever happens.
func (bs *blobs) sendLeased(ctx context.Context, w []wire.Desc, l *lease, off, n int) error {
	if b := l.buf; b != nil {
		l.buf, l.mem = nil, nil
		return bs.sendBuf(ctx, w, b, off, n)
	}
	id, err := bs.sendLease(ctx, l, off, n)
	if err != nil {
		return err
	}
	setBlob(&w[0], id, uint32(off), uint32(n))
	return bs.t.push(ctx, w)
}

// send copies p, too large for a slot, into a recycled buffer (or a fresh
// memfd when the cache has none to give) and sends it as the BLOB
// descriptor w[0]; p in sealed memory (sealed_linux.go) is sent by
// reference instead.
func (bs *blobs) send(ctx context.Context, w []wire.Desc, p []byte) error {
	if fd, off, ok := sealedAt(p); ok {
		return bs.sendSealed(ctx, w, fd, off, len(p))
	}
	b, err := bs.getBuf(len(p))
	if err != nil {
		return err
	}
	if b == nil {
		id, err := bs.sendCopy(ctx, p)
		if err != nil {
			return err
		}
		setBlob(&w[0], id, 0, uint32(len(p)))
		return bs.t.push(ctx, w)
	}
	parallelCopy(b.mem, p)
	bs.stats.copied.Add(int64(len(p)))
	return bs.sendBuf(ctx, w, b, 0, len(p))
}

// sendBuf publishes b.mem[off:off+n] as the BLOB descriptor w[0],
// announcing b first if the peer does not know it. b is with the peer if
// the descriptor was published, else back in the free list.
func (bs *blobs) sendBuf(ctx context.Context, w []wire.Desc, b *blobBuf, off, n int) error {
	c := &bs.cache
	if b.id == 0 {
		id, err := bs.t.ctl.send(ctx, ctlBuffer, 0, b.fd)
		if err != nil {
			c.putBack(b)
			return err
		}
		c.stats.announced.Add(1)
		c.mu.Lock()
		b.id = id
		if c.known == nil {
			c.known = make(map[uint64]*blobBuf)
		}
		c.known[id] = b
		c.mu.Unlock()
	}
	c.mu.Lock()
	b.state = bufPeer
	c.mu.Unlock()
	setBlob(&w[0], b.id, uint32(off), uint32(n))
	err := bs.t.push(ctx, w)
	// Unless a lying peer freed it already: not published, the buffer is
	// this side's again; published after Close dropped the cache, no
	// ctlFree can bring it back, so it goes now (the peer's mapping is its
	// own).
	c.mu.Lock()
	back := err != nil && b.state == bufPeer
	drop := err == nil && c.closed && b.state == bufPeer && c.known[b.id] == b // else close dropped it
	if back {
		b.state = bufCaller
	}
	if drop {
		delete(c.known, b.id)
	}
	c.mu.Unlock()
	switch {
	case back:
		c.putBack(b)
	case drop:
		b.destroy()
	}
	return err
}
