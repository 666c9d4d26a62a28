package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/procstat"
)

// The parent-death signal fires when the thread that forked the child
// exits, not the process: Go may retire the OS thread a goroutine forked
// from, which would kill a healthy plugin. Every plugin is therefore
// started from one goroutine locked to its OS thread for the life of the
// host process.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every plugin
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawner.reqs <- r
	return <-r.done
}

// verified opens path, checks its SHA-256 against want, and returns the
// open file and a path that executes exactly that file
// (/proc/self/fd/N). The descriptor is moved to 10 or above: the child's
// descriptors 0..8 are overwritten (stdio and the link) before the exec
// reads the path.
func verified(path string, want []byte) (*os.File, string, error) {
	f, err := checkSum(path, want)
	if err != nil {
		return nil, "", err
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 10)
	f.Close()
	if err != nil {
		return nil, "", fmt.Errorf("host: dup %s: %w", path, err)
	}
	g := os.NewFile(uintptr(fd), path)
	return g, "/proc/self/fd/" + strconv.Itoa(fd), nil
}

// applyLimits sets the plugin's resource limits with prlimit.
func applyLimits(pid int, l Limits) error {
	set := func(res int, v uint64, name string) error {
		if err := unix.Prlimit(pid, res, &unix.Rlimit{Cur: v, Max: v}, nil); err != nil {
			return fmt.Errorf("host: set %s of process %d to %d: %w", name, pid, v, err)
		}
		return nil
	}
	for _, x := range []struct {
		res  int
		v    uint64
		name string
		on   bool
	}{
		{unix.RLIMIT_AS, l.AddressSpace, "RLIMIT_AS", l.AddressSpace > 0},
		{unix.RLIMIT_NOFILE, l.OpenFiles, "RLIMIT_NOFILE", l.OpenFiles > 0},
		{unix.RLIMIT_NPROC, l.Processes, "RLIMIT_NPROC", l.Processes > 0},
		{unix.RLIMIT_CPU, l.CPUSeconds, "RLIMIT_CPU", l.CPUSeconds > 0},
		{unix.RLIMIT_CORE, l.CoreSize, "RLIMIT_CORE", l.Core || l.CoreSize > 0},
	} {
		if x.on {
			if err := set(x.res, x.v, x.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitGroup applies l to the processes of process group pgid that done
// does not list (and adds them to it): a wrapper may have forked the
// plugin before the wrapper itself got its limits. Processes forked
// after a member got its limits inherit them; a few rounds catch those
// forked meanwhile. A process that exits meanwhile is skipped.
func limitGroup(pgid int, l Limits, done map[int]bool) error {
	for range 4 {
		fresh := 0
		for _, pid := range groupMembers(pgid) {
			if done[pid] {
				continue
			}
			done[pid] = true
			fresh++
			if err := applyLimits(pid, l); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return nil
}

// groupMembers lists the processes of process group pgid, from /proc.
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procstat.Fields(pid)
		if err != nil {
			continue
		}
		if g, err := procstat.Int(f, procstat.Pgrp); err == nil && g == int64(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// sysProcAttr puts the plugin in its own process group, so that its
// children die with it, and asks for SIGTERM (not SIGKILL) on the host's
// death, so that the plugin can kill that group itself.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
