package shm

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Assists: work that a goroutine shares with the threads of its process
// parked on doorbells.
//
// A doorbell waiter blocks its thread in ppoll, and Go counts a thread in
// a system call as still holding its processor (P) until the runtime's
// monitor takes it back, which it does only after the call has lasted one
// of its ticks, and its ticks stretch to 10 ms in a process that has been
// quiet. So while a link's reader sleeps on its doorbell, a goroutine
// started to share a large copy finds no free P and runs only after the
// copy is over: on two processors a host sending a 64 MiB argument copied
// it alone, at half the speed of the same copy split in two
// (BENCHMARKS.md). Assist hands the work to the parked threads themselves:
// each one polls a process-wide eventfd beside its doorbell, and when work
// is posted it wakes, takes part, and goes back to sleep.
//
// A post writes the eventfd, which wakes every thread then in ppoll on it
// at once; each drains it before it runs the work, so that none of them
// wakes for that post again. A thread that parks after the drain does not
// see the post: the poster does the work itself in any case.
//
// The work must be safe to run on several goroutines at once, must return
// when nothing is left to do, and must do nothing once the poster's end
// has returned, since a waiter that looked at the list before end may
// still call it after. A waiter passes a stop function that reports its
// own doorbell rung (or its bell closed), so that the work gives the
// thread back to its link within one piece of work.
var assists struct {
	once sync.Once
	fd   int // the eventfd; -1 if it could not be made

	mu   sync.Mutex
	work []*assistWork
}

type assistWork struct{ f func(stop func() bool) }

// maxAssistWork bounds the posted work a waiter runs in one wake-up.
const maxAssistWork = 8

func assistFd() int {
	assists.once.Do(func() {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			fd = -1
		}
		assists.fd = fd
	})
	return assists.fd
}

// Assist posts f for the threads of this process that are parked in a
// Bell's Wait: each calls f once, with a stop function that reports that
// it has something else to do. end withdraws f; the caller must do f's
// work itself as well, since no thread may be parked. Without the
// eventfd (a process out of descriptors) nothing is posted.
func Assist(f func(stop func() bool)) (end func()) {
	fd := assistFd()
	if fd < 0 {
		return func() {}
	}
	w := &assistWork{f: f}
	assists.mu.Lock()
	assists.work = append(assists.work, w)
	assists.mu.Unlock()
	for {
		// Ours alone, and drained by every waiter it wakes: single
		// increments do not fill it.
		if _, err := unix.Write(fd, one[:]); err != unix.EINTR {
			break
		}
	}
	return func() {
		assists.mu.Lock()
		for i, x := range assists.work {
			if x == w {
				assists.work = append(assists.work[:i], assists.work[i+1:]...)
				break
			}
		}
		if len(assists.work) == 0 {
			_ = drain(fd) // no thread that parks from now on wakes for nothing
		}
		assists.mu.Unlock()
	}
}

// runAssists drains the eventfd and calls the posted work (at most
// maxAssistWork of it) on the calling thread, until stop says otherwise.
func runAssists(stop func() bool) {
	_ = drain(assists.fd)
	var ws [maxAssistWork]*assistWork
	assists.mu.Lock()
	n := copy(ws[:], assists.work)
	assists.mu.Unlock()
	for _, w := range ws[:n] {
		if stop() {
			return
		}
		w.f(stop)
	}
}
