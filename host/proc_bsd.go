//go:build unix && !linux

package host

import (
	"os/exec"
	"syscall"
)

// On Unix systems other than Linux there is no parent-death signal: a
// plugin learns of its host's death from the end of its link (DESIGN.md
// "Platforms"), so any thread may start it.
func spawn(cmd *exec.Cmd) error { return cmd.Start() }

// sysProcAttr puts the plugin in its own process group, so that its
// children die with it.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
