//go:build linux || darwin || openbsd

package stream

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// writev writes both buffers of iov in one writev(2) where conn exposes
// its descriptor (a socket: net's, or internal/sockconn's), through the
// runtime's poller and within conn's write deadline, and one after the
// other otherwise (TLS, which makes a record of each anyway). It writes
// everything or fails. net.Buffers would do the same for net's own
// connections only, and would make this package link net.
func writev(conn Conn, iov *[2][]byte) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return writeEach(conn, iov)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return writeEach(conn, iov)
	}
	bufs := iov[:]
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
				continue
			}
			n, err := unix.Writev(int(fd), bufs)
			switch err {
			case nil:
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait on the poller for room
			default:
				werr = os.NewSyscallError("writev", err)
				return true
			}
			for n > 0 {
				k := min(n, len(bufs[0]))
				bufs[0] = bufs[0][k:]
				n -= k
				if len(bufs[0]) == 0 {
					bufs = bufs[1:]
				}
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
