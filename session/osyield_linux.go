package session

import "syscall"

// yieldProcessor gives the calling thread's processor to another runnable
// thread, if the kernel has one queued there (sched_yield(2)); see
// pollCall.
func yieldProcessor() { _, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
