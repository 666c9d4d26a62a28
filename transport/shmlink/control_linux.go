package shmlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/sockconn"
)

// Control message: u32 type, u32 reserved (zero), u64 blob ID; ctlBlob and
// ctlBuffer carry exactly one descriptor (SCM_RIGHTS), ctlFree and
// ctlForget none. DESIGN.md "Shared-memory transport" specifies them.
const (
	ctlMsgSize = 16
	// ctlBlob: sender -> receiver, one descriptor attached: the sealed
	// memfd of one-shot blob ID (blob_linux.go).
	ctlBlob = 1
	// ctlBuffer: sender -> receiver, one descriptor attached: the memfd of
	// buffer ID. IDs of buffers increase strictly on the wire.
	ctlBuffer = 2
	// ctlFree: receiver -> sender, no descriptor: the frame that named
	// buffer ID was released; the sender may fill the buffer again.
	ctlFree = 3
	// ctlForget: sender -> receiver, no descriptor: buffer ID will not be
	// named again; the receiver unmaps it. Never sent for a buffer out
	// with the receiver.
	ctlForget = 4
)

// control is a Transport's end of the control socket (AF_UNIX,
// SOCK_SEQPACKET). It carries what the segment cannot: the memfds of blobs
// and the messages of the blob-buffer protocol; and it is how this side
// learns that the peer is gone, since the kernel closes the peer's end
// however the peer dies. A monitor goroutine (watch) reads it for the
// whole life of the link; Recv reads it itself when a BLOB descriptor
// names a blob the monitor has not collected yet (claim), and Alloc before
// it evicts a buffer (poll). Every read holds mu.
type control struct {
	t       *Transport // whose blobs the messages are about, and whose link the socket's end breaks
	conn    *sockconn.Conn
	rc      syscall.RawConn
	mu      sync.Mutex     // serialises reads of conn and guards pending
	pending map[uint64]int // blob ID -> memfd received but not yet claimed by Recv
	maxPend int            // Config.MaxPendingBlobs
	buf     [32]byte       // larger than any valid message, so a longer one shows as truncated
	oob     []byte         // room for a few descriptors: more than one is a violation, not a truncation
	sendMu  sync.Mutex     // one message on the socket at a time, with one write deadline
	lastID  atomic.Uint64  // last blob ID this side sent
	done    chan struct{}  // closed when the monitor goroutine has returned
}

func (c *control) init(t *Transport, conn *sockconn.Conn, rc syscall.RawConn, cfg Config) {
	c.t, c.conn, c.rc = t, conn, rc
	c.pending = make(map[uint64]int)
	c.maxPend = cfg.MaxPendingBlobs
	c.oob = make([]byte, unix.CmsgSpace(4*4))
	c.done = make(chan struct{})
}

// checkSeqpacket makes sure the control socket keeps message boundaries:
// on a byte stream a blob message could be split or merged.
func checkSeqpacket(rc syscall.RawConn) error {
	var typ, domain int
	var err1, err2 error
	if err := rc.Control(func(fd uintptr) {
		typ, err1 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		domain, err2 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil {
		return err
	}
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("transport/shmlink: control socket: %w", err)
	}
	if typ != unix.SOCK_SEQPACKET || domain != unix.AF_UNIX {
		return fmt.Errorf("transport/shmlink: control socket is not AF_UNIX SOCK_SEQPACKET (domain %d, type %d)", domain, typ)
	}
	return nil
}

// send sends one control message: of type typ, for blob or buffer id, or
// for a fresh ID if id is 0 (returned), with descriptor fd attached if it
// is not negative. IDs are taken under the lock that orders the messages,
// so that they increase on the wire. The write is bounded by the segment's
// wait: the peer drains its socket continuously, so a full socket means a
// peer that stopped. It is bounded by ctx's deadline too, when that comes
// first.
func (c *control) send(ctx context.Context, typ uint32, id uint64, fd int) (uint64, error) {
	t := c.t
	var msg [ctlMsgSize]byte
	binary.LittleEndian.PutUint32(msg[0:], typ)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	c.sendMu.Lock()
	if id == 0 {
		id = c.lastID.Add(1)
	}
	binary.LittleEndian.PutUint64(msg[8:], id)
	deadline := time.Now().Add(t.wait)
	ctxFirst := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxFirst = d, true
	}
	_ = c.conn.SetWriteDeadline(deadline)
	_, err := c.conn.WriteMsg(msg[:], oob)
	c.sendMu.Unlock()
	if err == nil {
		return id, nil
	}
	if s := t.state.err(); s != nil {
		return 0, s
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctxFirst {
		return 0, plexus.WithCause(plexus.DeadlineExceeded, err, "shm: deadline exceeded while the control socket was full")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, plexus.WithCause(plexus.ResourceExhausted, err,
			fmt.Sprintf("shm: control socket full for %v: the peer is not reading", t.wait))
	}
	return 0, t.errs.fail(plexus.WithCause(plexus.PeerDied, err, "shm: control socket: "+err.Error()))
}

// watch is the monitor goroutine: it waits on the runtime's poller for the
// control socket to become readable, collects blob descriptors, and turns
// end of file or an error into the peer's death. It returns when the
// socket is closed (Close), the peer is gone, or the peer sent garbage.
func (c *control) watch() {
	defer close(c.done)
	var derr error
	err := c.rc.Read(func(fd uintptr) bool {
		c.mu.Lock()
		derr = c.drainLocked(int(fd))
		c.mu.Unlock()
		return derr != nil
	})
	t := c.t
	if t.state.closed.Load() {
		return
	}
	if derr == nil {
		derr = err
	}
	if st, ok := derr.(*plexus.Status); ok {
		_ = t.errs.violate(st)
		return
	}
	msg := "shm: peer closed the control socket"
	if derr != io.EOF {
		msg = "shm: control socket: " + derr.Error()
	}
	_ = t.errs.fail(plexus.WithCause(plexus.PeerDied, derr, msg))
}

// poll reads whatever the control socket holds without waiting, as the
// monitor would.
func (c *control) poll() {
	var derr error
	if c.rc.Control(func(s uintptr) {
		c.mu.Lock()
		derr = c.drainLocked(int(s))
		c.mu.Unlock()
	}) != nil {
		return
	}
	if st, ok := derr.(*plexus.Status); ok {
		_ = c.t.errs.violate(st)
	}
	// End of file or a socket error stays for the monitor, which sees it
	// too and reports the peer's death.
}

// errAnnounced is claim's answer when reading the socket brought the
// ctlBuffer that announces id.
var errAnnounced = errors.New("shm: blob buffer announced")

// claim takes the descriptor of blob id. If the monitor has not read it
// yet it must be queued on the socket (the sender sent it before the BLOB
// descriptor), so Recv reads the socket itself rather than wait.
func (c *control) claim(id uint64) (int, error) {
	t := c.t
	c.mu.Lock()
	fd, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if ok {
		return fd, nil
	}
	var derr error
	announced := false
	cerr := c.rc.Control(func(s uintptr) {
		c.mu.Lock()
		derr = c.drainLocked(int(s))
		if fd, ok = c.pending[id]; ok {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if !ok && derr == nil {
			announced = t.blob.peer.has(id)
		}
	})
	switch {
	case ok:
		return fd, nil
	case announced:
		return -1, errAnnounced
	case cerr != nil:
		if s := t.state.err(); s != nil {
			return -1, s
		}
		return -1, errLinkClosed
	}
	if st, isStatus := derr.(*plexus.Status); isStatus {
		return -1, t.errs.violate(st)
	}
	return -1, t.errs.violate(violation("BLOB %d names no blob received on the control socket", id))
}

// closePending closes the blob descriptors the peer sent that no frame
// claimed. It is part of the segment's teardown: once no Recv can run,
// nothing will claim them.
func (c *control) closePending() {
	c.mu.Lock()
	for id, fd := range c.pending {
		_ = unix.Close(fd)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// drainLocked reads every message queued on the control socket without
// blocking. It returns nil when the queue is empty, io.EOF when the peer
// closed its end, a *plexus.Status for a malformed message, or the socket's
// error. Received descriptors are close-on-exec from the start.
func (c *control) drainLocked(fd int) error {
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, c.buf[:], c.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
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
		if st := c.handleLocked(c.buf[:n], c.oob[:oobn], flags); st != nil {
			return st
		}
	}
}

// handleLocked validates one control message (its bytes, its ancillary
// data and recvmsg's flags) and hands it to the blob state it is about.
// A message that is malformed or names a wrong ID is a violation, and the
// descriptors it carried are closed.
func (c *control) handleLocked(msg, oob []byte, flags int) *plexus.Status {
	fds, perr := parseRights(oob)
	typ, id, st := decodeCtl(msg, flags, len(fds), perr)
	if st == nil && typ == ctlBlob {
		st = c.checkBlobID(id)
	}
	if st != nil {
		for _, f := range fds {
			_ = unix.Close(f)
		}
		return st
	}
	b := &c.t.blob
	switch typ {
	case ctlBlob:
		c.pending[id] = fds[0]
	case ctlBuffer:
		_, pending := c.pending[id]
		return b.announced(id, fds[0], pending)
	case ctlFree:
		return b.cache.peerFreed(id)
	case ctlForget:
		return b.forgotten(id)
	}
	return nil
}

// checkBlobID checks the ID of a one-shot blob against those pending and
// the peer's buffers. The caller holds mu.
func (c *control) checkBlobID(id uint64) *plexus.Status {
	buf := c.t.blob.peer.has(id)
	if _, dup := c.pending[id]; dup || buf {
		return violation("blob ID %d is zero or sent twice", id)
	}
	if len(c.pending) >= c.maxPend {
		return violation("more than %d blobs sent and not claimed (Config.MaxPendingBlobs)", c.maxPend)
	}
	return nil
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
