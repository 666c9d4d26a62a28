package session

import (
	"syscall"
	"unsafe"
)

// yieldProcessor gives the calling thread's processor to another runnable
// thread, if the kernel has one queued there (sched_yield(2)); see
// pollCall.
func yieldProcessor() { _, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// involuntarySwitches is the calling thread's count of involuntary
// context switches (getrusage(2), RUSAGE_THREAD; 0 if it cannot be read):
// it moves when the kernel took the processor from the thread for another
// one, including at a yield that let another thread run, and not at a
// yield with nothing else runnable. See contention.
func involuntarySwitches() int64 {
	const rusageThread = 1
	var ru syscall.Rusage
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRUSAGE, rusageThread, uintptr(unsafe.Pointer(&ru)), 0); e != 0 {
		return 0
	}
	return ru.Nivcsw
}
