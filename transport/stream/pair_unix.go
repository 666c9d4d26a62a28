//go:build unix

package stream

import (
	"net"
	"os"
	"syscall"
)

// ChildPair returns the two ends of an AF_UNIX stream socketpair, both
// close-on-exec: this process's as a net.Conn on the runtime poller, and
// the other as a file to hand to a child process (exec.Cmd.ExtraFiles,
// which clears close-on-exec on the child's copy), which it then opens
// with net.FileConn. The caller closes the file once the child has it.
func ChildPair() (net.Conn, *os.File, error) {
	a, b, err := socketFiles()
	if err != nil {
		return nil, nil, err
	}
	c, err := fileConn(a)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return c, b, nil
}

func socketPair() (net.Conn, net.Conn, error) {
	ca, fb, err := ChildPair()
	if err != nil {
		return nil, nil, err
	}
	cb, err := fileConn(fb)
	if err != nil {
		_ = ca.Close()
		return nil, nil, err
	}
	return ca, cb, nil
}

// socketFiles makes the socketpair. ForkLock keeps a concurrent fork+exec
// from inheriting the descriptors before they are close-on-exec;
// SOCK_CLOEXEC would avoid the lock but is not portable to every Unix.
func socketFiles() (*os.File, *os.File, error) {
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
	return os.NewFile(uintptr(fds[0]), "plexus-pair-a"), os.NewFile(uintptr(fds[1]), "plexus-pair-b"), nil
}

// fileConn turns f into a net.Conn on the runtime poller. net.FileConn
// duplicates the descriptor, so f is closed either way.
func fileConn(f *os.File) (net.Conn, error) {
	defer f.Close()
	return net.FileConn(f)
}
