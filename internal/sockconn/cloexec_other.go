//go:build unix && !linux

package sockconn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Elsewhere close-on-exec is set after the fact, under syscall.ForkLock so
// that a concurrent fork+exec cannot inherit the descriptors before it is;
// descriptors received by ReadMsg are the caller's to mark.
const (
	sockCloexec = 0
	msgCloexec  = 0
)

func setCloexec(fd int) { unix.CloseOnExec(fd) }
func lockFork()         { syscall.ForkLock.RLock() }
func unlockFork()       { syscall.ForkLock.RUnlock() }
