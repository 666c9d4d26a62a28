package sockconn

import "golang.org/x/sys/unix"

// Linux sets close-on-exec atomically, as the socket is made and as
// descriptors arrive, so no lock against a concurrent fork is needed.
const (
	sockCloexec = unix.SOCK_CLOEXEC
	msgCloexec  = unix.MSG_CMSG_CLOEXEC
)

func setCloexec(int) {}
func lockFork()      {}
func unlockFork()    {}
