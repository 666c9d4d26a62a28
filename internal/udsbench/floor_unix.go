//go:build unix

package udsbench

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
)

// serveFloor echoes MsgSize-byte messages on fd with blocking read(2) and
// write(2) from one locked thread, until the other end closes it (see
// PingPongFloor).
func serveFloor(fd int) error {
	runtime.LockOSThread()
	if err := syscall.SetNonblock(fd, false); err != nil {
		return fmt.Errorf("udsbench: floor: %w", err)
	}
	buf := make([]byte, MsgSize)
	for {
		switch err := readFull(fd, buf); err {
		case nil:
		case errEOF:
			return nil
		default:
			return fmt.Errorf("udsbench: floor: serve: read: %w", err)
		}
		if err := writeAll(fd, buf); err != nil {
			return fmt.Errorf("udsbench: floor: serve: write: %w", err)
		}
	}
}

// PingPongFloor is PingPong on a peer started by StartFloorPeer, with both
// ends reading and writing with blocking system calls from a locked
// thread: no Go scheduler or poller in the way, only the kernel's
// wake-up of a thread blocked in read(2) and the switch to it, twice a
// round trip. It is the floor under any call that has to wake its peer:
// no transport that sleeps can answer faster on the same machine. It
// leaves p.Conn blocking (p is for this measurement and Close only).
func PingPongFloor(p *Peer, n int, lat []time.Duration) error {
	rc, err := p.Conn.SyscallConn()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var perr error
	cerr := rc.Control(func(fd uintptr) {
		if perr = syscall.SetNonblock(int(fd), false); perr != nil {
			perr = fmt.Errorf("udsbench: floor: %w", perr)
			return
		}
		perr = roundTrips("udsbench: floor", n, lat,
			func(b []byte) error { return writeAll(int(fd), b) },
			func(b []byte) error { return readFull(int(fd), b) })
	})
	if cerr != nil {
		return cerr
	}
	return perr
}

// errEOF: the other end closed between messages.
var errEOF = errors.New("end of file")

// readFull reads len(b) bytes from the blocking fd; errEOF if the other end
// closed before the first byte.
func readFull(fd int, b []byte) error {
	for got := 0; got < len(b); {
		n, err := syscall.Read(fd, b[got:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case n == 0 && got == 0:
			return errEOF
		case n == 0:
			return fmt.Errorf("end of file after %d of %d bytes", got, len(b))
		}
		got += n
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
