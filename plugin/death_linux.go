package plugin

import (
	"os"
	"runtime"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// watchParent asks the kernel for SIGTERM when the host dies and reports
// whether the host is still our parent. Linux ties the parent-death signal
// to the thread that set it, and forgets it when that thread exits, so it
// is set from a goroutine that keeps its locked OS thread for the life of
// the process. Checking the parent afterwards closes the race with a host
// that died before the signal was armed.
func watchParent(hostPID int) bool {
	armed := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
		close(armed)
		select {} // keep the thread, and with it the signal, alive
	}()
	<-armed
	return os.Getppid() == hostPID
}

// hostGone ends the plugin after its host died. Leading its own process
// group (a plexus host starts it so), it kills the whole group, children
// included, without a word: stderr is a pipe to the dead host, and a
// write to it would end the plugin by SIGPIPE before its children. It
// does not return then. Otherwise it logs and returns, and the caller
// exits.
func hostGone(log hclog.Logger, why string) {
	if unix.Getpgrp() == os.Getpid() {
		_ = unix.Kill(0, unix.SIGKILL)
		select {}
	}
	log.Error("host is gone; exiting", "reason", why)
}
