//go:build unix

package host

import (
	"net"
	"os"
	"syscall"
)

// socketPair returns this side's end of an AF_UNIX stream socketpair and
// the child's, both close-on-exec (exec's ExtraFiles clears that for the
// child's copy).
func socketPair() (net.Conn, *os.File, error) {
	// ForkLock: a concurrent fork must not inherit the descriptors
	// before they are close-on-exec (SOCK_CLOEXEC is not on every Unix).
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
	f := os.NewFile(uintptr(fds[0]), "plexus-link")
	c, err := net.FileConn(f) // a duplicate: f is closed either way
	f.Close()
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "plexus-link-plugin"), nil
}
