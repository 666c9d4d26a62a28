//go:build linux || darwin || openbsd

package stream

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// vecWriter writes both buffers of a frame in one writev(2) where the
// connection exposes its descriptor (a socket: net's, or
// internal/sockconn's), through the runtime's poller and within the
// connection's write deadline, and one after the other otherwise (TLS,
// which makes a record of each anyway). It writes everything or fails.
// net.Buffers would do the same for net's own connections only, and would
// make this package link net. It is the Transport's, set up once by init
// (the RawConn looked up, the write function bound), so that a write
// allocates nothing: a closure handed to RawConn.Write would escape to
// the heap on every frame. Only the holder of the Transport's write lock
// uses it.
type vecWriter struct {
	conn Conn
	rc   syscall.RawConn // nil: conn exposes no descriptor
	bufs [][]byte        // what is left to write, during writev
	err  error           // writev's system call error
	fn   func(fd uintptr) bool
}

func (w *vecWriter) init(conn Conn) {
	w.conn = conn
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	w.fn = w.write
}

// writev writes iov's buffers, in order.
func (w *vecWriter) writev(iov *[2][]byte) error {
	if w.rc == nil {
		return writeEach(w.conn, iov)
	}
	w.bufs, w.err = iov[:], nil
	err := w.rc.Write(w.fn)
	w.bufs = nil // do not pin the caller's payload
	if err != nil {
		return err
	}
	return w.err
}

// write is RawConn.Write's function: it writes until w.bufs is empty, and
// asks the poller to wait when the socket is full.
func (w *vecWriter) write(fd uintptr) bool {
	for len(w.bufs) > 0 {
		if len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
			continue
		}
		n, err := unix.Writev(int(fd), w.bufs)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait on the poller for room
		default:
			w.err = os.NewSyscallError("writev", err)
			return true
		}
		for n > 0 {
			k := min(n, len(w.bufs[0]))
			w.bufs[0] = w.bufs[0][k:]
			n -= k
			if len(w.bufs[0]) == 0 {
				w.bufs = w.bufs[1:]
			}
		}
	}
	return true
}
