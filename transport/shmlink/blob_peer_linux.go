package shmlink

import (
	"context"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
)

// Recycled blob buffers, receiving side: the peer's buffers this side has
// mapped, by ID. A buffer is mapped once, when ctlBuffer announces it, and
// stays mapped until ctlForget or Close; a BLOB descriptor naming it hands
// out a view of it until Release, which sends ctlFree.

// maxPeerBufs bounds how many of the peer's buffers this side keeps
// mapped; with the byte bound it keeps a peer from making this process
// hold mappings without limit. An honest peer has at most its cache bound
// over 2 MiB (the smallest buffer above a 1 MiB slot class) of them.
const maxPeerBufs = 1024

type peerBufs struct {
	mu     sync.Mutex
	limit  int64 // bytes of the peer's buffers this side agrees to map
	total  int64
	last   uint64 // highest buffer ID announced
	bufs   map[uint64]*peerBuf
	out    map[uintptr]*peerBuf // payload address -> buffer a frame holds
	closed bool
}

type peerBuf struct {
	id  uint64
	mem []byte // read-only mapping of the whole buffer
	out bool   // a received frame holds a view of it
}

// announced handles ctlBuffer: it checks and maps the peer's buffer id,
// whose descriptor is fd (closed in every case). pending reports that id
// is also a one-shot blob's, which it must not be; the caller holds the
// control socket's lock, so that no such blob can arrive meanwhile.
func (bs *blobs) announced(id uint64, fd int, pending bool) *plexus.Status {
	defer unix.Close(fd)
	pb := &bs.peer
	pb.mu.Lock()
	last, n, total, closed := pb.last, len(pb.bufs), pb.total, pb.closed
	pb.mu.Unlock()
	switch {
	case id <= last || pending:
		return violation("blob buffer ID %d not above the last one (%d) or in use", id, last)
	case n >= maxPeerBufs:
		return violation("more than %d blob buffers", maxPeerBufs)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&bufRequired != bufRequired || seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) == 0 {
		return violation("blob buffer %d is not a memfd sealed against resizing and new writers (seals %#x, %v)", id, seals, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return violation("blob buffer %d: fstat: %v", id, err)
	}
	size := st.Size
	if size <= 0 || size%int64(pageSize) != 0 || size > pb.limit-total {
		return violation("blob buffer %d of %d bytes: not whole pages, or over the %d-byte bound with the %d mapped", id, size, pb.limit, total)
	}
	if err := allocated(&st); err != nil {
		return violation("blob buffer %d %v", id, err)
	}
	if closed {
		return nil
	}
	// Populated now, while the peer is still filling the first payload:
	// the pages are the peer's (pre-faulted), so this only builds the
	// page table, once per buffer.
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return violation("blob buffer %d: mmap: %v", id, err)
	}
	pb.mu.Lock()
	if pb.closed {
		pb.mu.Unlock()
		_ = unix.Munmap(mem)
		return nil
	}
	if pb.bufs == nil {
		pb.bufs = make(map[uint64]*peerBuf)
		pb.out = make(map[uintptr]*peerBuf)
	}
	pb.bufs[id] = &peerBuf{id: id, mem: mem}
	pb.total += size
	pb.last = id
	pb.mu.Unlock()
	bs.stats.mapped.Add(1)
	return nil
}

// forgotten handles ctlForget: the peer drops buffer id, which no frame of
// this side may hold.
func (bs *blobs) forgotten(id uint64) *plexus.Status {
	pb := &bs.peer
	pb.mu.Lock()
	b := pb.bufs[id]
	if b == nil || b.out {
		pb.mu.Unlock()
		return violation("forget of blob buffer %d, which is unknown or held by a frame", id)
	}
	delete(pb.bufs, id)
	pb.total -= int64(len(b.mem))
	pb.mu.Unlock()
	_ = unix.Munmap(b.mem)
	bs.stats.forgotten.Add(1)
	return nil
}

// usePeerBuf returns the view a BLOB descriptor names in the peer's buffer
// id; known is false if no such buffer is mapped.
func (bs *blobs) usePeerBuf(id uint64, off, n uint32) (p []byte, known bool, err error) {
	pb := &bs.peer
	pb.mu.Lock()
	b := pb.bufs[id]
	switch {
	case b == nil:
		pb.mu.Unlock()
		return nil, false, nil
	case b.out:
		pb.mu.Unlock()
		return nil, true, bs.t.errs.violate(violation("blob buffer %d sent again while this side holds it", id))
	case uint64(off)+uint64(n) > uint64(len(b.mem)):
		pb.mu.Unlock()
		return nil, true, bs.t.errs.violate(violation("blob buffer %d has %d bytes, the descriptor needs %d", id, len(b.mem), uint64(off)+uint64(n)))
	}
	b.out = true
	start, end := int(off), int(off)+int(n)
	p = b.mem[start:end:end]
	pb.out[uintptr(unsafe.Pointer(unsafe.SliceData(p)))] = b
	pb.mu.Unlock()
	bs.nout.Add(1)
	return p, true, nil
}

// releasePeerBuf gives back the peer's buffer p is a view of, telling the
// peer it may fill it again; false if p is no such view. After Close the
// buffer is unmapped instead. A ctlFree that cannot be sent (the link is
// down, or the peer has not read its socket for the whole wait) is
// dropped: the peer then never reuses that buffer, which costs it memory,
// not correctness.
func (bs *blobs) releasePeerBuf(p []byte) bool {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	pb := &bs.peer
	pb.mu.Lock()
	b, ok := pb.out[key]
	if !ok {
		pb.mu.Unlock()
		return false
	}
	delete(pb.out, key)
	b.out = false
	closed := pb.closed
	if closed {
		delete(pb.bufs, b.id)
	}
	pb.mu.Unlock()
	bs.nout.Add(-1)
	if closed {
		_ = unix.Munmap(b.mem)
		return true
	}
	if _, err := bs.t.ctl.send(context.Background(), ctlFree, b.id, -1); err == nil {
		bs.stats.freed.Add(1)
	}
	return true
}

// has reports whether the peer's buffer id is mapped: a one-shot blob
// must not reuse its ID, and a BLOB descriptor naming it is the buffer's.
func (pb *peerBufs) has(id uint64) bool {
	pb.mu.Lock()
	_, ok := pb.bufs[id]
	pb.mu.Unlock()
	return ok
}

// close unmaps every buffer no frame holds; Release unmaps the others.
func (pb *peerBufs) close() {
	pb.mu.Lock()
	pb.closed = true
	var drop []*peerBuf
	for id, b := range pb.bufs {
		if !b.out {
			drop = append(drop, b)
			delete(pb.bufs, id)
		}
	}
	pb.total = 0
	pb.mu.Unlock()
	for _, b := range drop {
		_ = unix.Munmap(b.mem)
	}
}
