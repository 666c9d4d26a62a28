package host

import (
	"os/exec"
	"syscall"
)

// Windows has neither process groups to signal nor a parent-death signal:
// a plugin learns of its host's death from the end of its link, and the
// host can only kill the process it started (DESIGN.md "Platforms").
func spawn(cmd *exec.Cmd) error { return cmd.Start() }

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signal: there is no SIGTERM to send; Close's graceful steps (the
// shutdown notice and the drain) come before, and then the process is
// killed.
func (in *instance) signal(s stopSignal) {
	if s == sigKill && in.cmd != nil && in.cmd.Process != nil {
		_ = in.cmd.Process.Kill()
	}
}
