//go:build unix && !linux

package plugin

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// checkHost: without Linux's /proc and parent-death signal, the plugin
// cannot walk its ancestors or have the kernel tell it of its parent's
// death; it learns of its host's death from the end of its link, which
// only the host holds, and takes its process group down then if the host
// made that group for it (DESIGN.md "Platforms").
func checkHost(hostPID int) (lineage, error) {
	direct := os.Getppid() == hostPID
	return lineage{direct: direct, ownGroup: direct && unix.Getpgrp() == os.Getpid()}, nil
}

// hostGone ends the plugin after its host died: see death_linux.go.
func hostGone(log hclog.Logger, lin lineage, why string) {
	if lin.ownGroup {
		_ = unix.Kill(0, unix.SIGKILL)
		select {}
	}
	log.Error("host is gone; exiting", "reason", why)
}
