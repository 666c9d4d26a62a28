package timeslice

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxPasses bounds Set's passes over the process's threads. A thread
// started during a pass by a thread not yet set is found by the next; the
// runtime starts threads rarely, so the second pass almost always finds
// nothing to change.
const maxPasses = 4

// stragglerPass is how long after Set a last pass runs, in the
// background. The kernel copies a thread's attributes at the start of the
// clone that makes a new one, which appears in /proc/self/task only at
// its end: a clone under way when its parent was set (the parent
// preempted in it, on a busy machine) yields a thread with the old slice
// that no pass saw, about once in a hundred Sets while the runtime was
// starting threads (measured).
const stragglerPass = 2 * time.Millisecond

// mu serialises Sets and their last passes; gen counts Sets, so that a
// last pass does nothing once a later Set began.
var (
	mu  sync.Mutex
	gen uint64
)

// Set gives every thread of the process of the normal policy a slice of
// d (clamped to Min..Max); 0 gives them back the kernel's default. Each
// thread keeps its nice value and flags. A thread that exits meanwhile is
// skipped; any other refusal is returned. A thread that was being started
// while Set ran gets d from a last pass stragglerPass later.
func Set(d time.Duration) error {
	mu.Lock()
	defer mu.Unlock()
	gen++
	want := uint64(clamp(d))
	// The kernel reports its default as a length (0.7 ms times one plus
	// the log2 of the processor count), so the threads already at the
	// default are those that report it: this thread's, once reset.
	is := want
	if want == 0 {
		var err error
		if is, err = resetSelf(); err != nil {
			return err
		}
	}
	asked.Store(0) // until every thread has it
	for range maxPasses {
		changed, err := pass(want, is)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
	}
	asked.Store(int64(want) + 1)
	g := gen
	time.AfterFunc(stragglerPass, func() {
		mu.Lock()
		defer mu.Unlock()
		if gen == g {
			_, _ = pass(want, is)
		}
	})
	return nil
}

// resetSelf gives the calling thread the kernel's default slice and
// returns its length.
func resetSelf() (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return 0, fmt.Errorf("timeslice: sched_getattr: %w", err)
	}
	if a.Policy == unix.SCHED_NORMAL {
		set := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: a.Policy, Nice: a.Nice,
			Flags: a.Flags & unix.SCHED_FLAG_RESET_ON_FORK}
		if err := unix.SchedSetAttr(0, &set, 0); err != nil {
			return 0, fmt.Errorf("timeslice: sched_setattr: %w", err)
		}
		if a, err = unix.SchedGetAttr(0, 0); err != nil {
			return 0, fmt.Errorf("timeslice: sched_getattr: %w", err)
		}
	}
	return a.Runtime, nil
}

// pass sets want on every thread whose slice does not read is, and
// reports whether it changed any.
func pass(want, is uint64) (changed bool, err error) {
	err = threads(os.Getpid(), func(tid int, a *unix.SchedAttr) error {
		if a.Policy != unix.SCHED_NORMAL || a.Runtime == is {
			return nil
		}
		set := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: a.Policy, Nice: a.Nice, Runtime: want,
			Flags: a.Flags & unix.SCHED_FLAG_RESET_ON_FORK}
		err := unix.SchedSetAttr(tid, &set, 0)
		if errors.Is(err, unix.ESRCH) {
			return nil // exited
		}
		if err != nil {
			return fmt.Errorf("timeslice: sched_setattr of thread %d: %w", tid, err)
		}
		changed = true
		return nil
	})
	return changed, err
}

// threads calls f with the id and attributes of every thread of process
// pid that is still there, until f fails.
func threads(pid int, f func(tid int, a *unix.SchedAttr) error) error {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return fmt.Errorf("timeslice: %w", err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		a, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // exited
		}
		if err != nil {
			return fmt.Errorf("timeslice: sched_getattr of thread %d: %w", tid, err)
		}
		if err := f(tid, a); err != nil {
			return err
		}
	}
	return nil
}

// Get reports the calling thread's slice: what Set gave it, or the
// kernel's default length (1.4 ms on two processors).
func Get() (time.Duration, error) {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return 0, fmt.Errorf("timeslice: sched_getattr: %w", err)
	}
	return time.Duration(a.Runtime), nil
}

// Of reports the slice of every thread of process pid (this process's
// too) that is still there, by thread id: what a test or an inspection
// reads to see what Set did.
func Of(pid int) (map[int]time.Duration, error) {
	out := map[int]time.Duration{}
	err := threads(pid, func(tid int, a *unix.SchedAttr) error {
		out[tid] = time.Duration(a.Runtime)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Await waits, within the given time, until every thread of process pid
// has a slice of want (a Set's last pass runs after it returns), and
// says which thread did not otherwise: for tests and tools that check
// what Set did.
func Await(pid int, want, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		got, err := Of(pid)
		if err != nil {
			return err
		}
		bad := ""
		for tid, d := range got {
			if d != want {
				bad = fmt.Sprintf("thread %d of process %d has a slice of %v, not %v", tid, pid, d, want)
				break
			}
		}
		if bad == "" && len(got) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if bad == "" {
				bad = fmt.Sprintf("process %d has no threads", pid)
			}
			return errors.New("timeslice: " + bad)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
