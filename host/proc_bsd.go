//go:build unix && !linux

package host

import (
	"os"
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

// verified checks the file's SHA-256 and returns its path: without
// /proc/self/fd the checked file cannot be executed through its open
// descriptor, so a file swapped between check and start is not caught
// here as it is on Linux (as with hashicorp/go-plugin's SecureConfig).
func verified(path string, want []byte) (*os.File, string, error) {
	f, err := checkSum(path, want)
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

// applyLimits and limitGroup: prlimit(2), which sets another process's
// limits, is Linux's; Config refuses Limits elsewhere.
func applyLimits(int, Limits) error { return errNoLimits }

func limitGroup(int, Limits, map[int]bool) error { return errNoLimits }
