//go:build unix

package stream

import (
	"net"
	"os"
	"syscall"
)

func socketPair() (net.Conn, net.Conn, error) {
	// ForkLock keeps a concurrent fork+exec from inheriting the descriptors
	// before they are close-on-exec; SOCK_CLOEXEC would avoid the lock but
	// is not portable to every Unix.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	ca, err := fileConn(fds[0], "plexus-pair-a")
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, nil, err
	}
	cb, err := fileConn(fds[1], "plexus-pair-b")
	if err != nil {
		_ = ca.Close()
		return nil, nil, err
	}
	return ca, cb, nil
}

// fileConn turns fd into a net.Conn on the runtime poller. net.FileConn
// duplicates the descriptor, so the original is closed either way.
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return net.FileConn(f)
}
