package udsbench

import (
	"os/exec"
	"syscall"
)

// socketpair creates both ends close-on-exec atomically, so that no other
// child started concurrently inherits them (and keeps the peer from seeing
// EOF).
func socketpair() ([2]int, error) {
	return syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
}

// setPeerAttrs makes the kernel kill the peer when the parent dies, even if
// the parent is killed before it can close the socket. Pdeathsig follows
// the OS thread that forked rather than the process; the Go runtime only
// retires threads of locked goroutines, and EOF covers that case anyway.
func setPeerAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
