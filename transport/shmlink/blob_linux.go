package shmlink

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// Blobs: a payload larger than the sender's largest slot travels in a memfd
// outside the segment, named by a 64-bit ID in a BLOB descriptor. Usually
// the memfd is a recycled buffer (blob_cache_linux.go, blob_peer_linux.go);
// when the cache has none to give, it is a one-shot blob, here: a memfd of
// its own, sealed against any change, for one descriptor. Either way the
// control message that passes the memfd goes out before the BLOB
// descriptor that names its ID, so the receiver finds it already queued on
// its socket when it pops the descriptor: a missing ID is a violation,
// never a wait.
const (
	blobName = "plexus-blob"
	// blobSeals make the blob immutable for its whole life: no resize (a
	// shrink under the receiver's mapping would turn reads into SIGBUS),
	// no write (the receiver may treat the bytes as stable), no new seals.
	blobSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	// blobRequired are the seals the receiver insists on; F_SEAL_SEAL
	// only stops seals from being added, which cannot hurt the receiver.
	blobRequired = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
)

// blobs is a Transport's blob state, both ways: this side's recycled
// buffers and the blob buffers out with the caller, and the one-shot blobs
// and the peer's buffers mapped for received frames. The Transport hands
// it every payload above its largest slot class (Alloc, Send), every BLOB
// descriptor (Recv), and every released payload that is neither a slot
// nor a cell while nout says a received blob may be out (Release). It is a
// value in the Transport, so that the checks Send, Free and Release make
// on every call (nleases, nout) cost one load, as they did before it was
// split out.
type blobs struct {
	t *Transport // the link: its ring for BLOB descriptors, its control socket for memfds, its faults

	cache blobCache // this side's recycled buffers (blob_cache_linux.go)
	peer  peerBufs  // the peer's recycled buffers mapped here (blob_peer_linux.go)
	stats blobStats

	leaseMu sync.Mutex
	leases  map[*lease]struct{} // blob buffers out with the caller
	nleases atomic.Int32        // len(leases), for a look without the lock

	mapMu    sync.Mutex
	mapped   map[uintptr][]byte // received one-shot blob payload address -> mapping
	mapBytes int64              // bytes of one-shot blobs mapped (mapMu; Config.MaxBlobMemory)
	maxBytes int64              // Config.MaxBlobMemory
	nout     atomic.Int32       // received blobs of either kind not yet released
}

// blobStats counts what the blob paths did, for tests and diagnostics.
type blobStats struct {
	created   atomic.Int64 // buffers created (memfd, mapping, pre-fault)
	reused    atomic.Int64 // buffers taken again from the free list
	evicted   atomic.Int64 // buffers dropped to stay under the bound
	announced atomic.Int64 // ctlBuffer messages sent
	oneShot   atomic.Int64 // blobs sent in a fresh memfd (cache off or full)
	shared    atomic.Int64 // blobs sent by reference to sealed memory (sealed_linux.go)
	copied    atomic.Int64 // payload bytes Send copied into slots and blobs
	mapped    atomic.Int64 // peer buffers mapped
	freed     atomic.Int64 // ctlFree messages sent
	forgotten atomic.Int64 // peer buffers unmapped on ctlForget
}

func (bs *blobs) init(t *Transport, cfg Config) {
	bs.t = t
	bs.cache.limit = int64(max(cfg.BlobCache, 0))
	bs.cache.stats = &bs.stats
	bs.peer.limit = int64(max(cfg.BlobCache, DefaultBlobCache))
	bs.leases = make(map[*lease]struct{})
	bs.mapped = make(map[uintptr][]byte)
	bs.maxBytes = int64(cfg.MaxBlobMemory)
}

// close drops the recycled buffers of both sides at Close, except those
// out with the caller or held by a frame, which go when they come back.
func (bs *blobs) close() {
	bs.cache.close()
	bs.peer.close()
}

var pageSize = unix.Getpagesize()

// setBlob writes the payload fields of a BLOB descriptor: the ID in the
// slot and gen fields (low and high 32 bits), the payload's offset inside
// the blob file in the offset field, and zeros in bytes 48..63.
func setBlob(d *wire.Desc, id uint64, off, n uint32) {
	d.SetFlags(d.Flags()&^(wire.FlagInline|wire.FlagSlot) | wire.FlagBlob)
	le := binary.LittleEndian
	le.PutUint32(d[36:], uint32(id))
	le.PutUint32(d[40:], uint32(id>>32))
	le.PutUint32(d[44:], off)
	clear(d[48:])
	d.SetLength(n)
}

// newBlobFd creates an empty sealable memfd.
func newBlobFd() (int, error) {
	fd, err := unix.MemfdCreate(blobName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, plexus.WithCause(plexus.ResourceExhausted, err, "shm: memfd_create: "+err.Error())
	}
	return fd, nil
}

func blobErr(n int, what string, err error) error {
	return plexus.WithCause(plexus.ResourceExhausted, err, fmt.Sprintf("shm: blob of %d bytes: %s: %v", n, what, err))
}

// lease is a blob buffer out with the caller: a recycled buffer (buf), or
// a writable mapping of a memfd of its own that Send seals and passes on
// without copying.
type lease struct {
	fd  int
	mem []byte
	buf *blobBuf
}

func (l *lease) discard() {
	if b := l.buf; b != nil {
		l.buf, l.mem = nil, nil
		b.c.putBack(b)
		return
	}
	if l.mem != nil {
		_ = unix.Munmap(l.mem)
		l.mem = nil
	}
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
}

// newLease is Alloc of n bytes above the largest slot class: a recycled
// buffer if the cache gives one, else a writable memfd of its own.
func (bs *blobs) newLease(n int) ([]byte, error) {
	b, err := bs.getBuf(n)
	if err != nil {
		return nil, err
	}
	if b != nil {
		return bs.leaseBuf(b, n), nil
	}
	bs.stats.oneShot.Add(1)
	fd, err := newBlobFd()
	if err != nil {
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(n)); err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(n, "ftruncate", err)
	}
	// No MAP_POPULATE: a fresh shmem page is zeroed when it is first
	// mapped, so populating costs what the caller's first write would,
	// only earlier (measured: no faster overall, and Alloc returns later).
	mem, err := unix.Mmap(fd, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(fd)
		return nil, blobErr(n, "mmap", err)
	}
	l := &lease{fd: fd, mem: mem}
	bs.leaseMu.Lock()
	bs.leases[l] = struct{}{}
	bs.leaseMu.Unlock()
	bs.nleases.Add(1)
	return mem[:n:n], nil
}

// findLease claims the lease b points into, with b's offset in it.
func (bs *blobs) findLease(b []byte) (*lease, int) {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	bs.leaseMu.Lock()
	defer bs.leaseMu.Unlock()
	for l := range bs.leases {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(l.mem)))
		if addr >= base && addr-base < uintptr(len(l.mem)) {
			delete(bs.leases, l)
			bs.nleases.Add(-1)
			return l, int(addr - base)
		}
	}
	return nil, 0
}

// takeLease is findLease for Free, which has no use for the offset.
func (bs *blobs) takeLease(b []byte) *lease {
	if bs.nleases.Load() == 0 {
		return nil
	}
	l, _ := bs.findLease(b)
	return l
}

// sendLease seals a lease's memfd and sends it; the lease is used up
// whatever happens. The writable mapping must go first: F_SEAL_WRITE is
// refused while one exists.
func (bs *blobs) sendLease(ctx context.Context, l *lease, off, n int) (uint64, error) {
	defer l.discard()
	size := len(l.mem)
	_ = unix.Munmap(l.mem)
	l.mem = nil
	if off+n < size {
		// Give back the pages past the payload (an encoder's estimate
		// may have been generous); nothing maps them any more.
		_ = unix.Ftruncate(l.fd, int64(off+n))
	}
	// Pages the caller never wrote are holes, which the receiver refuses
	// to map (see allocated): they are this side's to pay for.
	if err := unix.Fallocate(l.fd, 0, 0, int64(off+n)); err != nil {
		return 0, blobErr(n, "fallocate", err)
	}
	if _, err := unix.FcntlInt(uintptr(l.fd), unix.F_ADD_SEALS, blobSeals); err != nil {
		return 0, blobErr(n, "seal", err)
	}
	return bs.t.ctl.send(ctx, ctlBlob, 0, l.fd)
}

// sendCopy copies p into a new sealed memfd and sends it. write(2)
// copies once into fresh page-cache pages; mapping the file and copying
// would also zero every page first.
func (bs *blobs) sendCopy(ctx context.Context, p []byte) (uint64, error) {
	bs.stats.oneShot.Add(1)
	fd, err := newBlobFd()
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := pwriteAll(fd, p); err != nil {
		return 0, err
	}
	bs.stats.copied.Add(int64(len(p)))
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, blobSeals); err != nil {
		return 0, blobErr(len(p), "seal", err)
	}
	return bs.t.ctl.send(ctx, ctlBlob, 0, fd)
}

// recv validates a BLOB descriptor and returns the payload: a view of
// the peer's buffer it names, or its one-shot blob mapped read-only. The
// descriptor is checked completely before the ID is looked up.
func (bs *blobs) recv(d *wire.Desc) ([]byte, error) {
	t := bs.t
	id, off, n, st := blobRef(d, t.max)
	if st != nil {
		return nil, t.errs.violate(st)
	}
	if p, known, err := bs.usePeerBuf(id, off, n); known {
		return p, err
	}
	fd, err := t.ctl.claim(id)
	if err == errAnnounced {
		// Its ctlBuffer was still on the socket.
		p, known, err := bs.usePeerBuf(id, off, n)
		if !known && err == nil {
			err = t.errs.violate(violation("BLOB %d names no blob received on the control socket", id))
		}
		return p, err
	}
	if err != nil {
		return nil, err
	}
	p, err := bs.mapOneShot(fd, id, off, n)
	if err != nil {
		_ = unix.Close(fd)
	}
	return p, err
}

// blobRef validates the form of a BLOB descriptor (no other transport flag,
// reserved bits and bytes 48..63 zero, a non-zero ID, a length in
// [1, limit]) and returns what it names: blob ID, offset and length.
func blobRef(d *wire.Desc, limit int) (id uint64, off, n uint32, st *plexus.Status) {
	fl := d.Flags()
	if fl&(wire.TransportFlags&^wire.FlagBlob) != 0 || d.Reserved() != 0 {
		return 0, 0, 0, violation("BLOB descriptor with flags %#x, reserved %#x", fl, d.Reserved())
	}
	le := binary.LittleEndian
	if le.Uint64(d[48:])|le.Uint64(d[56:]) != 0 {
		return 0, 0, 0, violation("BLOB descriptor with bytes 48..63 not zero")
	}
	id = uint64(d.Slot()) | uint64(d.Gen())<<32
	off, n = d.Offset(), d.Length()
	switch {
	case id == 0:
		st = violation("BLOB descriptor with ID 0")
	case n == 0:
		st = violation("empty BLOB %d", id)
	case uint64(n) > uint64(limit):
		st = violation("BLOB %d of %d bytes exceeds the %d-byte limit", id, n, limit)
	}
	return id, off, n, st
}

// mapOneShot maps n bytes at off of the peer's one-shot blob fd (BLOB id)
// read-only. It checks the seals before the size, so that the size cannot
// change after it was checked, and every page before it maps any, and it
// counts the bytes against Config.MaxBlobMemory until Release. Mapped, a
// blob larger than this side's largest slot is registered as sealed memory
// with fd (sealed_linux.go), which this process may then forward to other
// peers without a copy, and fd is closed when the frame is released; a
// smaller one would be copied into a slot if sent on, so fd is closed at
// once. (A peer sending tiny one-shot blobs thus cannot make this side
// keep a descriptor per frame: those it keeps are at most MaxBlobMemory
// over the largest slot.) On an error the caller closes fd.
func (bs *blobs) mapOneShot(fd int, id uint64, off, n uint32) ([]byte, error) {
	t := bs.t
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&blobRequired != blobRequired {
		return nil, t.errs.violate(violation("blob %d is not a memfd sealed against writes and resizing (seals %#x, %v)", id, seals, err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, t.errs.violate(violation("blob %d: fstat: %v", id, err))
	}
	end := int64(off) + int64(n)
	if st.Size < end {
		return nil, t.errs.violate(violation("blob %d has %d bytes, the descriptor needs %d", id, st.Size, end))
	}
	if err := allocated(&st); err != nil {
		return nil, t.errs.violate(violation("blob %d %v", id, err))
	}
	start := int64(off) &^ int64(pageSize-1)
	delta := int(int64(off) - start)
	size := int64(delta) + int64(n)
	bs.mapMu.Lock()
	over := bs.mapBytes+size > bs.maxBytes
	if !over {
		bs.mapBytes += size
	}
	bs.mapMu.Unlock()
	if over {
		return nil, t.errs.fail(plexus.Errorf(plexus.ResourceExhausted,
			"shm: blob %d of %d bytes would take the peer's blobs mapped here over the %d-byte bound (Config.MaxBlobMemory)", id, n, bs.maxBytes))
	}
	// Not populated: a one-shot blob is mapped once, for one frame, and
	// may be large and read in part (a message fanned out to many
	// receivers, each looking at a few fields of it); populating its page
	// tables up front cost a 16 MiB fan-out to four plugins 3.7-5.8 ms
	// against 1.7-2.4 ms without, and a receiver that reads it all pays
	// about as much in faults as populating would (plexus bench,
	// bus_16mib_fanout4_ms and blob_*_gbps, three interleaved runs). Its
	// pages are the sender's already (allocated, sealed against holes).
	mem, err := unix.Mmap(fd, start, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		bs.mapMu.Lock()
		bs.mapBytes -= size
		bs.mapMu.Unlock()
		if err == unix.ENOMEM {
			return nil, t.errs.fail(plexus.WithCause(plexus.ResourceExhausted, err,
				fmt.Sprintf("shm: cannot map blob %d of %d bytes: %v", id, n, err)))
		}
		return nil, t.errs.violate(violation("blob %d: mmap: %v", id, err))
	}
	p := mem[delta : delta+int(n) : delta+int(n)]
	if int(n) > t.ownMax {
		registerSealed(mem, fd, start)
	} else {
		_ = unix.Close(fd)
	}
	bs.mapMu.Lock()
	bs.mapped[uintptr(unsafe.Pointer(unsafe.SliceData(p)))] = mem
	bs.mapMu.Unlock()
	bs.nout.Add(1)
	return p, nil
}

// allocated checks that every page of a memfd (its fstat) is allocated:
// the file has no hole. A page of a hole that this process maps is
// allocated when it is touched (MAP_POPULATE touches them all), in this
// process's name: a peer that sent sparse memfds and kept its own
// descriptors would make this side pay for memory it never wrote, without
// bound. An honest sender writes or fallocates every page before it seals
// the file, and a file sealed against writes (F_SEAL_WRITE, or
// F_SEAL_FUTURE_WRITE) cannot have holes punched in it afterwards. A
// memfd's st_blocks counts its allocated pages (fallocated ones too,
// which lseek's SEEK_HOLE would take for holes), and no page lies past
// its size, which the seals fix.
func allocated(st *unix.Stat_t) error {
	need := (st.Size + int64(pageSize) - 1) &^ int64(pageSize-1)
	if have := st.Blocks * 512; have < need {
		return fmt.Errorf("has holes: %d of its %d bytes of pages were never written", need-have, need)
	}
	return nil
}

// release gives back the blob p is the payload of (a view of the peer's
// buffer, or a one-shot blob, unmapped); false if it is none.
func (bs *blobs) release(p []byte) bool {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	bs.mapMu.Lock()
	mem, ok := bs.mapped[key]
	if ok {
		delete(bs.mapped, key)
		bs.mapBytes -= int64(len(mem))
	}
	bs.mapMu.Unlock()
	if ok {
		bs.nout.Add(-1)
		unregisterSealed(mem)
		_ = unix.Munmap(mem)
		return true
	}
	return bs.releasePeerBuf(p)
}
