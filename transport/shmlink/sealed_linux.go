package shmlink

import (
	"context"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Sealed memory: memfds sealed against writes and resizing, mapped
// read-only in this process, whose bytes any link of the process can send
// again by reference, without a copy. There are two kinds: a one-shot blob
// received from a peer (kept with its descriptor while its frame is held),
// and a blob this process sealed itself (Seal). A payload inside either is
// sent to a peer as a one-shot blob naming the same memfd (SPEC.md
// "One-shot blobs": the receiver maps the pages holding the payload), so
// one copy of a large message, made by whoever wrote it, is read in place
// by every receiver on the machine: a host fanning a plugin's message out
// to other plugins forwards it without touching its bytes.
//
// The memory is reclaimed by the kernel when the last process unmaps it
// and closes its descriptor: a receiver that dies holding it gives its
// share back with its other mappings, and nobody has to count on its
// behalf. The registry is process-wide because the receiving link and the
// sending link are different Transports.

// sealedMap is one registered mapping.
type sealedMap struct {
	mem   []byte // the read-only mapping
	fd    int    // the memfd, open while registered
	start int64  // file offset of mem[0]
}

var sealedReg struct {
	mu sync.Mutex
	m  map[uintptr]*sealedMap // by the address of mem[0]
	n  atomic.Int32           // len(m), for a look without the lock
}

// registerSealed makes mem (mapped from fd at file offset start) sendable
// by reference; the registry owns fd from then on.
func registerSealed(mem []byte, fd int, start int64) {
	sealedReg.mu.Lock()
	if sealedReg.m == nil {
		sealedReg.m = make(map[uintptr]*sealedMap)
	}
	sealedReg.m[uintptr(unsafe.Pointer(unsafe.SliceData(mem)))] = &sealedMap{mem: mem, fd: fd, start: start}
	sealedReg.n.Add(1)
	sealedReg.mu.Unlock()
}

// unregisterSealed forgets the mapping that starts at mem and closes its
// descriptor; the caller unmaps it. False if it was not registered.
func unregisterSealed(mem []byte) bool {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	sealedReg.mu.Lock()
	sm, ok := sealedReg.m[key]
	if ok {
		delete(sealedReg.m, key)
		sealedReg.n.Add(-1)
	}
	sealedReg.mu.Unlock()
	if ok {
		_ = unix.Close(sm.fd)
	}
	return ok
}

// inSealed reports whether p lies in a registered mapping.
func inSealed(p []byte) bool {
	found := false
	withSealed(p, func(*sealedMap, int64) { found = true })
	return found
}

// sealedAt finds the registered mapping p lies in, and returns a
// duplicate of its descriptor (the caller closes it; the mapping may be
// released meanwhile) and p's offset in the file.
func sealedAt(p []byte) (fd int, off int64, ok bool) {
	fd = -1
	withSealed(p, func(sm *sealedMap, at int64) {
		// Out of descriptors: not found, and the caller copies.
		if dup, err := unix.FcntlInt(uintptr(sm.fd), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			fd, off, ok = dup, sm.start+at, true
		}
	})
	return fd, off, ok
}

// withSealed calls fn, with the registry's lock held, with the registered
// mapping p lies in and p's offset in it, if there is one.
func withSealed(p []byte, fn func(sm *sealedMap, at int64)) {
	if sealedReg.n.Load() == 0 || len(p) == 0 {
		return
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	sealedReg.mu.Lock()
	defer sealedReg.mu.Unlock()
	for base, sm := range sealedReg.m {
		if addr >= base && addr-base+uintptr(len(p)) <= uintptr(len(sm.mem)) {
			fn(sm, int64(addr-base))
			return
		}
	}
}

// sendSealed publishes p, which lies in a sealed mapping (fd, at file
// offset off), as the BLOB descriptor w[0], naming the same memfd: no
// byte is copied. fd is closed.
func (bs *blobs) sendSealed(ctx context.Context, w []wire.Desc, fd int, off int64, n int) error {
	defer unix.Close(fd)
	if off > int64(^uint32(0)) {
		return plexus.Errorf(plexus.ResourceExhausted, "shm: payload at offset %d of a sealed blob is beyond the descriptor's 32-bit offset", off)
	}
	id, err := bs.t.ctl.send(ctx, ctlBlob, 0, fd)
	if err != nil {
		return err
	}
	bs.stats.shared.Add(1)
	setBlob(&w[0], id, uint32(off), uint32(n))
	return bs.t.push(ctx, w)
}

// SealedBlob is bytes in a memfd sealed against writes and resizing,
// mapped read-only: a large message written once that any shared-memory
// link of this process sends by reference, so that every receiver reads
// the same pages. On other transports its bytes are copied as any
// payload's. It is safe for concurrent use; Release once nothing will
// send it any more (frames already sent keep their own references).
type SealedBlob struct {
	mem  []byte
	once sync.Once
}

// Seal copies p once into a new sealed memfd and maps it read-only.
func Seal(p []byte) (*SealedBlob, error) {
	if len(p) == 0 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "shm: Seal of an empty payload")
	}
	fd, err := newBlobFd()
	if err != nil {
		return nil, err
	}
	if err := pwriteAll(fd, p); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, blobSeals); err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(len(p), "seal", err)
	}
	// Not populated: the sealing process rarely reads its own copy back.
	mem, err := unix.Mmap(fd, 0, len(p), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(len(p), "mmap", err)
	}
	registerSealed(mem, fd, 0)
	return &SealedBlob{mem: mem}, nil
}

// Bytes is the sealed payload, read-only: writing it faults. Valid until
// Release.
func (b *SealedBlob) Bytes() []byte { return b.mem }

// Release unmaps this process's view; receivers keep theirs.
func (b *SealedBlob) Release() {
	b.once.Do(func() {
		if unregisterSealed(b.mem) {
			_ = unix.Munmap(b.mem)
		}
	})
}

// pwriteAll writes p at the start of fd.
func pwriteAll(fd int, p []byte) error {
	for off := 0; off < len(p); {
		k, err := unix.Pwrite(fd, p[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return blobErr(len(p), "write", err)
		}
		off += k
	}
	return nil
}

var _ transport.Sealer = (*Transport)(nil)

// Seal is the package's Seal (transport.Sealer): the sealed bytes may be
// sent on any shared-memory link of the process. A payload that fits in a
// slot is returned as it is: copying it into a slot costs less than a
// sealed memfd and its mapping; so is one in sealed memory already (a
// large message received from a peer, being passed on), which is sent by
// reference as it is.
func (t *Transport) Seal(p []byte) ([]byte, func(), error) {
	if len(p) <= t.ownMax || inSealed(p) {
		return p, func() {}, nil
	}
	sb, err := Seal(p)
	if err != nil {
		return nil, nil, err
	}
	return sb.Bytes(), sb.Release, nil
}
