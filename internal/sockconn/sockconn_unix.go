//go:build unix

package sockconn

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a connected Unix socket on the runtime's poller.
type Conn struct {
	f  *os.File
	rc syscall.RawConn
	// closed is set by Close before the file is closed: the message
	// calls, which go through the file's RawConn, get the poller's own
	// "use of closed file" error, which is no os.ErrClosed (see closeErr).
	closed atomic.Bool
}

// FromFD adopts fd, a connected socket, and closes it if it fails. It
// puts fd in non-blocking mode first: os.NewFile makes a pollable file
// (deadlines, and reads that park the goroutine rather than its thread)
// only of a non-blocking descriptor.
func FromFD(fd int, name string) (*Conn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Conn{f: f, rc: rc}, nil
}

// Socketpair makes an AF_UNIX socketpair of type typ (unix.SOCK_STREAM or
// unix.SOCK_SEQPACKET) whose descriptors are close-on-exec.
func Socketpair(typ int) (int, int, error) {
	lockFork()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|sockCloexec, 0)
	if err == nil {
		setCloexec(fds[0])
		setCloexec(fds[1])
	}
	unlockFork()
	if err != nil {
		return -1, -1, os.NewSyscallError("socketpair", err)
	}
	return fds[0], fds[1], nil
}

// Dial connects a stream socket to the Unix socket at path.
func Dial(path string) (*Conn, error) {
	lockFork()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|sockCloexec, 0)
	if err == nil {
		setCloexec(fd)
	}
	unlockFork()
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	for {
		if err = unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return FromFD(fd, path)
}

// Pair returns both ends of a new socketpair of type typ as Conns.
func Pair(typ int) (*Conn, *Conn, error) {
	fa, fb, err := Socketpair(typ)
	if err != nil {
		return nil, nil, err
	}
	a, err := FromFD(fa, "socketpair")
	if err != nil {
		_ = unix.Close(fb)
		return nil, nil, err
	}
	b, err := FromFD(fb, "socketpair")
	if err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func (c *Conn) Read(b []byte) (int, error)  { return c.f.Read(b) }
func (c *Conn) Write(b []byte) (int, error) { return c.f.Write(b) }

// Close closes the socket; pending reads and writes return.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}

// closeErr reports an error of a call through the RawConn that Close
// ended as os.ErrClosed, as the file's own calls report it.
func (c *Conn) closeErr(op string, err error) error {
	if err != nil && c.closed.Load() {
		return &os.PathError{Op: op, Path: c.f.Name(), Err: os.ErrClosed}
	}
	return err
}

func (c *Conn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SyscallConn gives access to the descriptor, through the poller.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// ReadMsg receives one message (recvmsg) into b and its control data into
// oob, waiting on the poller within the read deadline. It returns 0 bytes
// and no error when the peer has closed its end.
func (c *Conn) ReadMsg(b, oob []byte) (n, oobn, flags int, err error) {
	var serr error
	err = c.rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, serr = unix.Recvmsg(int(fd), b, oob, msgCloexec)
		return serr != unix.EAGAIN
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("recvmsg", serr)
	}
	return n, oobn, flags, c.closeErr("recvmsg", err)
}

// WriteMsg sends b as one message (sendmsg) with control data oob,
// waiting on the poller within the write deadline.
func (c *Conn) WriteMsg(b, oob []byte) (int, error) {
	var n int
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgN(int(fd), b, oob, nil, unix.MSG_NOSIGNAL)
		return serr != unix.EAGAIN
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("sendmsg", serr)
	}
	return n, c.closeErr("sendmsg", err)
}

// CloseWrite shuts the sending side down: the peer reads end of file.
func (c *Conn) CloseWrite() error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return c.closeErr("shutdown", err)
	}
	if serr != nil {
		return os.NewSyscallError("shutdown", serr)
	}
	return nil
}
