package timeslice

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxPasses bounds Set's passes over the process's threads. A thread
// started during a pass by a thread not yet set is found by the next;
// the runtime starts threads rarely, so the second pass almost always
// finds nothing to change. Set(0) makes two passes: the kernel reports
// its default slice as a length (0.7 ms times one plus the log2 of the
// processor count), which cannot be told from a slice set to that length,
// so every pass changes every thread.
const maxPasses = 4

// Set gives every thread of the process of the normal policy a slice of
// d (clamped to Min..Max); 0 gives them back the kernel's default. Each
// thread keeps its nice value and flags. A thread that exits meanwhile is
// skipped; any other refusal is returned.
func Set(d time.Duration) error {
	want := uint64(clamp(d))
	passes := maxPasses
	if want == 0 {
		passes = 2
	}
	asked.Store(0) // until every thread has it
	for range passes {
		changed, err := pass(want)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
	}
	asked.Store(int64(want) + 1)
	return nil
}

// pass sets want on every thread that has another slice, and reports
// whether it changed any.
func pass(want uint64) (changed bool, err error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, fmt.Errorf("timeslice: %w", err)
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
			return changed, fmt.Errorf("timeslice: sched_getattr of thread %d: %w", tid, err)
		}
		if a.Policy != unix.SCHED_NORMAL || a.Runtime == want {
			continue
		}
		set := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: a.Policy, Nice: a.Nice, Runtime: want,
			Flags: a.Flags & unix.SCHED_FLAG_RESET_ON_FORK}
		err = unix.SchedSetAttr(tid, &set, 0)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("timeslice: sched_setattr of thread %d: %w", tid, err)
		}
		changed = true
	}
	return changed, nil
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
