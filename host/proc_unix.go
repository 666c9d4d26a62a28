//go:build unix

package host

import "golang.org/x/sys/unix"

// signal signals the plugin's process group (the plugin and every child
// it did not move to another group); attached instances have none.
func (in *instance) signal(s stopSignal) {
	if in.pid <= 1 {
		return
	}
	sig := unix.SIGKILL
	if s == sigTerm {
		sig = unix.SIGTERM
	}
	_ = unix.Kill(-in.pid, sig)
}
