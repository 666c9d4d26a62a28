package plugin

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/procstat"
)

// maxAncestors bounds the walk from the plugin's parent up to its host:
// each step is one wrapper that forked the plugin instead of executing it
// (a shell running it as one command of several, timeout(1), ...). Real
// chains are one or two deep; the bound keeps a corrupt or cyclic view of
// /proc from looping.
const maxAncestors = 16

// checkHost makes sure the plugin runs under the host named by the
// handshake variable, before it does anything else. When the host is the
// parent it arms the parent-death signal and checks the parent again
// afterwards, which closes the race with a host that died before the
// signal was armed. Otherwise it walks up the plugin's ancestors
// (/proc/<pid>/stat, at most maxAncestors steps): a wrapper that forked
// the plugin and waits for it is accepted, and the host's death then
// shows as the end of the control socket, whose host end only the host
// holds. It fails with errHostExited when the host is gone, and with a
// FailedPrecondition status, in words for the plugin's author, when the
// host is alive but not an ancestor (the plugin was detached from it: run
// in the background, double-forked), since such a plugin would neither
// die with its host nor be in the process group the host kills.
func checkHost(hostPID int) (lineage, error) {
	if os.Getppid() == hostPID {
		if armedAtInit != hostPID {
			armParentDeath()
		}
		lin := lineage{direct: true, ownGroup: unix.Getpgrp() == os.Getpid()}
		if os.Getppid() != hostPID {
			return lin, errHostExited
		}
		return lin, nil
	}
	if child, ok := hostChild(hostPID, os.Getppid(), parentOf); ok {
		return lineage{ownGroup: unix.Getpgrp() == child}, nil
	}
	if !running(hostPID) {
		return lineage{}, errHostExited
	}
	return lineage{}, notUnderHost(hostPID, os.Getppid())
}

// notUnderHost is the refusal of a plugin whose host is alive but not
// among its ancestors.
func notUnderHost(hostPID, ppid int) error {
	return plexus.Errorf(plexus.FailedPrecondition,
		"this plugin does not run under its host (pid %d): its parent is pid %d%s and the host is not among its ancestors. "+
			"A plugin must be started by its host directly, or by a wrapper that executes it "+
			"(for example sh -c 'exec ./plugin') or waits for it; a wrapper that runs it in the background "+
			"or detaches it is not supported, since the plugin would then outlive its host",
		hostPID, ppid, commOf(ppid))
}

// armedAtInit is the host's process ID when init armed the parent-death
// signal (its parent was then the host the handshake variable names), and
// 0 otherwise. init sets it before main runs; nothing writes it after.
var armedAtInit int

// init arms the parent-death signal of a process its host started
// directly, on the startup thread: the runtime runs every init function
// there, and that thread never exits (the runtime parks it rather than
// end it), so the signal needs no thread of its own. armParentDeath
// would start one, which costs 0.26-0.47 ms of a plugin's start on the
// test machine (DESIGN.md "Starting a plugin"). A process without the
// handshake variable, or whose parent is not the host it names, is left
// alone: checkHost decides what to do with it.
func init() {
	val, ok := os.LookupEnv(handshake.EnvName)
	if !ok {
		return
	}
	env, err := handshake.ParseEnv(val)
	if err != nil || env.HostPID <= 0 || os.Getppid() != env.HostPID {
		return
	}
	if unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0) == nil {
		armedAtInit = env.HostPID
	}
}

// armParentDeath asks the kernel for SIGTERM when the parent dies. Linux
// ties the parent-death signal to the thread that set it, and forgets it
// when that thread exits, so it is set from a goroutine that keeps its
// locked OS thread for the life of the process. (init does without, when
// it can.)
func armParentDeath() {
	armed := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
		close(armed)
		select {} // keep the thread, and with it the signal, alive
	}()
	<-armed
}

// hostChild walks up from pid (the plugin's parent) to hostPID, and
// returns the ancestor whose parent is the host. parent reads a
// process's parent.
func hostChild(hostPID, pid int, parent func(int) (int, error)) (int, bool) {
	for range maxAncestors {
		pp, err := parent(pid)
		if err != nil {
			return 0, false // the process is gone: the chain broke
		}
		if pp == hostPID {
			return pid, true
		}
		if pp <= 1 {
			return 0, false // init (or the top of a pid namespace)
		}
		pid = pp
	}
	return 0, false
}

// parentOf reads a process's parent from /proc/<pid>/stat.
func parentOf(pid int) (int, error) {
	f, err := procstat.Fields(pid)
	if err != nil {
		return 0, err
	}
	pp, err := procstat.Int(f, procstat.Ppid)
	return int(pp), err
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	if f, err := procstat.Fields(pid); err == nil {
		return f[procstat.State] != "Z" && f[procstat.State] != "X"
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// commOf names a process for a message: " (sh)", or "" when unknown.
func commOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return " (" + strings.TrimSpace(string(b)) + ")"
}

// hostGone ends the plugin after its host died. In the process group the
// host made for it, it kills the whole group, children (and a wrapper)
// included, without a word: stderr is a pipe to the dead host, and a
// write to it would end the plugin by SIGPIPE before its children. It
// does not return then. Otherwise it logs and returns, and the caller
// exits.
func hostGone(log hclog.Logger, lin lineage, why string) {
	if lin.ownGroup {
		_ = unix.Kill(0, unix.SIGKILL)
		select {}
	}
	log.Error("host is gone; exiting", "reason", why)
}
