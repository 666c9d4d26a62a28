package stallprobe

import (
	"syscall"
	"unsafe"
)

// switches is the calling thread's context switches, voluntary and
// involuntary (getrusage(2), RUSAGE_THREAD), or -1 if they cannot be read.
func switches() int64 {
	const rusageThread = 1
	var ru syscall.Rusage
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRUSAGE, rusageThread, uintptr(unsafe.Pointer(&ru)), 0); e != 0 {
		return -1
	}
	return ru.Nvcsw + ru.Nivcsw
}

// switchesKnown reports whether switches reads anything here.
func switchesKnown() bool { return switches() >= 0 }
