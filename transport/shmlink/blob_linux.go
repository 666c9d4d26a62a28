package shmlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
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

	// Control message: u32 type, u32 reserved (zero), u64 blob ID;
	// ctlBlob and ctlBuffer carry exactly one descriptor (SCM_RIGHTS),
	// ctlFree and ctlForget none.
	ctlMsgSize = 16
	ctlBlob    = 1
)

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

func (t *Transport) newLease(n int) ([]byte, error) {
	b, err := t.getBuf(n)
	if err != nil {
		return nil, err
	}
	if b != nil {
		return t.leaseBuf(b, n), nil
	}
	t.blob.stats.oneShot.Add(1)
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
	t.leaseMu.Lock()
	t.leases[l] = struct{}{}
	t.leaseMu.Unlock()
	t.nleases.Add(1)
	return mem[:n:n], nil
}

// findLease claims the lease b points into, with b's offset in it.
func (t *Transport) findLease(b []byte) (*lease, int) {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	t.leaseMu.Lock()
	defer t.leaseMu.Unlock()
	for l := range t.leases {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(l.mem)))
		if addr >= base && addr-base < uintptr(len(l.mem)) {
			delete(t.leases, l)
			t.nleases.Add(-1)
			return l, int(addr - base)
		}
	}
	return nil, 0
}

func (t *Transport) takeLease(b []byte) *lease {
	if t.nleases.Load() == 0 {
		return nil
	}
	l, _ := t.findLease(b)
	return l
}

// sendLease seals a lease's memfd and sends it; the lease is used up
// whatever happens. The writable mapping must go first: F_SEAL_WRITE is
// refused while one exists.
func (t *Transport) sendLease(ctx context.Context, l *lease, off, n int) (uint64, error) {
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
	return t.sendCtl(ctx, ctlBlob, 0, l.fd)
}

// sendBlobCopy copies p into a new sealed memfd and sends it. write(2)
// copies once into fresh page-cache pages; mapping the file and copying
// would also zero every page first.
func (t *Transport) sendBlobCopy(ctx context.Context, p []byte) (uint64, error) {
	t.blob.stats.oneShot.Add(1)
	fd, err := newBlobFd()
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	for off := 0; off < len(p); {
		k, err := unix.Pwrite(fd, p[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, blobErr(len(p), "write", err)
		}
		off += k
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, blobSeals); err != nil {
		return 0, blobErr(len(p), "seal", err)
	}
	return t.sendCtl(ctx, ctlBlob, 0, fd)
}

// sendCtl sends one control message: of type typ, for blob or buffer id,
// or for a fresh ID if id is 0 (returned), with descriptor fd attached if
// it is not negative. IDs are taken under the lock that orders the
// messages, so that they increase on the wire. The write is bounded by the
// segment's wait: the peer drains its socket continuously, so a full
// socket means a peer that stopped. It is bounded by ctx's deadline too,
// when that comes first.
func (t *Transport) sendCtl(ctx context.Context, typ uint32, id uint64, fd int) (uint64, error) {
	var msg [ctlMsgSize]byte
	binary.LittleEndian.PutUint32(msg[0:], typ)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	t.sendMu.Lock()
	if id == 0 {
		id = t.blobID.Add(1)
	}
	binary.LittleEndian.PutUint64(msg[8:], id)
	deadline := time.Now().Add(t.wait)
	ctxFirst := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxFirst = d, true
	}
	_ = t.ctl.SetWriteDeadline(deadline)
	_, _, err := t.ctl.WriteMsgUnix(msg[:], oob, nil)
	t.sendMu.Unlock()
	if err == nil {
		return id, nil
	}
	if s := t.stateErr(); s != nil {
		return 0, s
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctxFirst {
		return 0, plexus.WithCause(plexus.DeadlineExceeded, err, "shm: deadline exceeded while the control socket was full")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, plexus.WithCause(plexus.ResourceExhausted, err,
			fmt.Sprintf("shm: control socket full for %v: the peer is not reading", t.wait))
	}
	return 0, t.fail(plexus.WithCause(plexus.PeerDied, err, "shm: control socket: "+err.Error()))
}

// recvBlob validates a BLOB descriptor and returns the payload: a view of
// the peer's buffer it names, or its one-shot blob mapped read-only. The
// descriptor is checked completely before the ID is looked up, and a
// one-shot blob's seals before its size, so that the size cannot change
// after it was checked.
func (t *Transport) recvBlob(d *wire.Desc) ([]byte, error) {
	fl := d.Flags()
	if fl&(wire.TransportFlags&^wire.FlagBlob) != 0 || d.Reserved() != 0 {
		return nil, t.violate(violation("BLOB descriptor with flags %#x, reserved %#x", fl, d.Reserved()))
	}
	le := binary.LittleEndian
	if le.Uint64(d[48:])|le.Uint64(d[56:]) != 0 {
		return nil, t.violate(violation("BLOB descriptor with bytes 48..63 not zero"))
	}
	id := uint64(d.Slot()) | uint64(d.Gen())<<32
	off, n := d.Offset(), d.Length()
	switch {
	case id == 0:
		return nil, t.violate(violation("BLOB descriptor with ID 0"))
	case n == 0:
		return nil, t.violate(violation("empty BLOB %d", id))
	case uint64(n) > uint64(t.max):
		return nil, t.violate(violation("BLOB %d of %d bytes exceeds the %d-byte limit", id, n, t.max))
	}
	if p, known, err := t.usePeerBuf(id, off, n); known {
		return p, err
	}
	fd, err := t.claimBlob(id)
	if err == errAnnounced {
		// Its ctlBuffer was still on the socket.
		p, known, err := t.usePeerBuf(id, off, n)
		if !known && err == nil {
			err = t.violate(violation("BLOB %d names no blob received on the control socket", id))
		}
		return p, err
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&blobRequired != blobRequired {
		return nil, t.violate(violation("blob %d is not a memfd sealed against writes and resizing (seals %#x, %v)", id, seals, err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, t.violate(violation("blob %d: fstat: %v", id, err))
	}
	end := int64(off) + int64(n)
	if st.Size < end {
		return nil, t.violate(violation("blob %d has %d bytes, the descriptor needs %d", id, st.Size, end))
	}
	if err := allocated(&st); err != nil {
		return nil, t.violate(violation("blob %d %v", id, err))
	}
	start := int64(off) &^ int64(pageSize-1)
	delta := int(int64(off) - start)
	size := int64(delta) + int64(n)
	t.blobMu.Lock()
	over := t.blobBytes+size > t.maxBlobs
	if !over {
		t.blobBytes += size
	}
	t.blobMu.Unlock()
	if over {
		return nil, t.fail(plexus.Errorf(plexus.ResourceExhausted,
			"shm: blob %d of %d bytes would take the peer's blobs mapped here over the %d-byte bound (Config.MaxBlobMemory)", id, n, t.maxBlobs))
	}
	// Populating costs no memory: every page is the sender's already
	// (allocated, and sealed against punching holes).
	mem, err := unix.Mmap(fd, start, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		t.blobMu.Lock()
		t.blobBytes -= size
		t.blobMu.Unlock()
		if err == unix.ENOMEM {
			return nil, t.fail(plexus.WithCause(plexus.ResourceExhausted, err,
				fmt.Sprintf("shm: cannot map blob %d of %d bytes: %v", id, n, err)))
		}
		return nil, t.violate(violation("blob %d: mmap: %v", id, err))
	}
	p := mem[delta : delta+int(n) : delta+int(n)]
	t.blobMu.Lock()
	t.blobs[uintptr(unsafe.Pointer(unsafe.SliceData(p)))] = mem
	t.blobMu.Unlock()
	t.nblobs.Add(1)
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

// releaseBlob gives back the blob p is the payload of (a view of the
// peer's buffer, or a one-shot blob, unmapped); false if it is none.
func (t *Transport) releaseBlob(p []byte) bool {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	t.blobMu.Lock()
	mem, ok := t.blobs[key]
	if ok {
		delete(t.blobs, key)
		t.blobBytes -= int64(len(mem))
	}
	t.blobMu.Unlock()
	if ok {
		t.nblobs.Add(-1)
		_ = unix.Munmap(mem)
		return true
	}
	return t.releasePeerBuf(p)
}

// errAnnounced is claimBlob's answer when reading the socket brought the
// ctlBuffer that announces id.
var errAnnounced = errors.New("shm: blob buffer announced")

// claimBlob takes the descriptor of blob id. If the monitor has not read it
// yet it must be queued on the socket (the sender sent it before the BLOB
// descriptor), so Recv reads the socket itself rather than wait.
func (t *Transport) claimBlob(id uint64) (int, error) {
	t.ctlMu.Lock()
	fd, ok := t.pending[id]
	if ok {
		delete(t.pending, id)
	}
	t.ctlMu.Unlock()
	if ok {
		return fd, nil
	}
	var derr error
	announced := false
	cerr := t.rc.Control(func(s uintptr) {
		t.ctlMu.Lock()
		derr = t.drainLocked(int(s))
		if fd, ok = t.pending[id]; ok {
			delete(t.pending, id)
		}
		t.ctlMu.Unlock()
		if !ok && derr == nil {
			t.blob.peer.mu.Lock()
			_, announced = t.blob.peer.bufs[id]
			t.blob.peer.mu.Unlock()
		}
	})
	switch {
	case ok:
		return fd, nil
	case announced:
		return -1, errAnnounced
	case cerr != nil:
		if s := t.stateErr(); s != nil {
			return -1, s
		}
		return -1, errLinkClosed
	}
	if st, isStatus := derr.(*plexus.Status); isStatus {
		return -1, t.violate(st)
	}
	return -1, t.violate(violation("BLOB %d names no blob received on the control socket", id))
}

// drainLocked reads every message queued on the control socket without
// blocking. It returns nil when the queue is empty, io.EOF when the peer
// closed its end, a *plexus.Status for a malformed message, or the socket's
// error. Received descriptors are close-on-exec from the start.
func (t *Transport) drainLocked(fd int) error {
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, t.ctlBuf[:], t.ctlOOB, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		switch {
		case err == unix.EAGAIN:
			return nil
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0 && oobn == 0:
			// End of file, or an empty datagram, which a SOCK_SEQPACKET
			// read cannot tell apart: the peer's end is closed only if
			// the socket says it hung up.
			if hungUp(fd) {
				return io.EOF
			}
			return violation("empty control message")
		}
		fds, perr := parseRights(t.ctlOOB[:oobn])
		typ, id, st := decodeCtl(t.ctlBuf[:n], flags, len(fds), perr)
		if st == nil && typ == ctlBlob {
			st = t.checkBlobID(id)
		}
		if st != nil {
			for _, f := range fds {
				_ = unix.Close(f)
			}
			return st
		}
		switch typ {
		case ctlBlob:
			t.pending[id] = fds[0]
		case ctlBuffer:
			st = t.announced(id, fds[0])
		case ctlFree:
			st = t.blob.cache.peerFreed(id)
		case ctlForget:
			st = t.forgotten(id)
		}
		if st != nil {
			return st
		}
	}
}

// hungUp reports whether the peer has closed its end of the socket.
func hungUp(fd int) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	for {
		_, err := unix.Poll(fds[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || fds[0].Revents&(unix.POLLHUP|unix.POLLRDHUP|unix.POLLERR|unix.POLLNVAL) != 0
	}
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			err = fmt.Errorf("control message level %d type %d", m.Header.Level, m.Header.Type)
			continue
		}
		f, perr := unix.ParseUnixRights(m)
		if perr != nil {
			err = perr
		}
		fds = append(fds, f...)
	}
	return fds, err
}

// decodeCtl validates the form of one control message (its size, type,
// reserved field, descriptor count and non-zero ID) and returns its type
// and ID. What the ID names is checked by the handler of each type.
func decodeCtl(msg []byte, flags int, nfds int, perr error) (uint32, uint64, *plexus.Status) {
	switch {
	case perr != nil:
		return 0, 0, violation("control message: %v", perr)
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		return 0, 0, violation("control message truncated (flags %#x)", flags)
	case len(msg) != ctlMsgSize:
		return 0, 0, violation("control message of %d bytes, want %d", len(msg), ctlMsgSize)
	}
	le := binary.LittleEndian
	typ, rsv, id := le.Uint32(msg[0:]), le.Uint32(msg[4:]), le.Uint64(msg[8:])
	want := 0
	switch typ {
	case ctlBlob, ctlBuffer:
		want = 1
	case ctlFree, ctlForget:
	default:
		return 0, 0, violation("control message type %d reserved %#x", typ, rsv)
	}
	switch {
	case rsv != 0:
		return 0, 0, violation("control message type %d reserved %#x", typ, rsv)
	case nfds != want:
		return 0, 0, violation("control message with %d descriptors, want %d", nfds, want)
	case id == 0:
		return 0, 0, violation("control message type %d for ID 0", typ)
	}
	return typ, id, nil
}

// checkBlobID checks the ID of a one-shot blob against those pending and
// the peer's buffers. The caller holds ctlMu.
func (t *Transport) checkBlobID(id uint64) *plexus.Status {
	t.blob.peer.mu.Lock()
	_, buf := t.blob.peer.bufs[id]
	t.blob.peer.mu.Unlock()
	if _, dup := t.pending[id]; dup || buf {
		return violation("blob ID %d is zero or sent twice", id)
	}
	if len(t.pending) >= t.maxPend {
		return violation("more than %d blobs sent and not claimed (Config.MaxPendingBlobs)", t.maxPend)
	}
	return nil
}

// watch is the monitor goroutine: it waits on the runtime's poller for the
// control socket to become readable, collects blob descriptors, and turns
// end of file or an error into the peer's death. It returns when the
// socket is closed (Close), the peer is gone, or the peer sent garbage.
func (t *Transport) watch() {
	defer close(t.done)
	var derr error
	err := t.rc.Read(func(fd uintptr) bool {
		t.ctlMu.Lock()
		derr = t.drainLocked(int(fd))
		t.ctlMu.Unlock()
		return derr != nil
	})
	if t.closed.Load() {
		return
	}
	if derr == nil {
		derr = err
	}
	if st, ok := derr.(*plexus.Status); ok {
		_ = t.violate(st)
		return
	}
	msg := "shm: peer closed the control socket"
	if derr != io.EOF {
		msg = "shm: control socket: " + derr.Error()
	}
	_ = t.fail(plexus.WithCause(plexus.PeerDied, derr, msg))
}
