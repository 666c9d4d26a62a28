//go:build unix && !linux

package udsbench

import (
	"os/exec"
	"syscall"
)

// socketpair creates the pair and marks it close-on-exec under ForkLock, as
// the standard library does where SOCK_CLOEXEC is not available.
func socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds, nil
}

// setPeerAttrs: there is no parent-death signal here; the peer exits on the
// EOF it reads once the parent's descriptors are closed, including when the
// parent dies.
func setPeerAttrs(*exec.Cmd) {}
