package shm

import (
	"sync"
	"sync/atomic"
	"time"

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
// The work must be safe to run on several goroutines at once, must return
// when nothing is left to do, and must do nothing once the poster's end
// has returned, since a waiter that looked at the list before end may
// still call it after. A waiter passes a stop function that reports its
// own doorbell rung (or its bell closed), so that the work gives the
// thread back to its link within one piece of work.
var assists struct {
	once sync.Once
	fd   int // the eventfd, readable while work is posted; -1 if it could not be made

	mu   sync.Mutex
	work []*assistWork
	// gen counts posts, n is len(work). A waiter that ran the latest post
	// stops polling the eventfd (readable until the last end) while that
	// post lasts, and sleeps in slices of assistSlice meanwhile, so that
	// it sees the post's end or a new one.
	gen atomic.Uint64
	n   atomic.Int32
}

// assistSlice bounds a waiter's sleep while the eventfd is left out: the
// delay with which it takes part in a post that follows.
const assistSlice = time.Millisecond

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
// Bell's Wait, and for those that park before end is called: each calls
// f once, with a stop function that reports that it has something else to
// do. end withdraws f; the caller must do f's work itself as well, since
// no thread may be parked. Without the eventfd (a process out of
// descriptors) nothing is posted.
func Assist(f func(stop func() bool)) (end func()) {
	fd := assistFd()
	if fd < 0 {
		return func() {}
	}
	w := &assistWork{f: f}
	assists.mu.Lock()
	assists.work = append(assists.work, w)
	assists.n.Store(int32(len(assists.work)))
	assists.gen.Add(1)
	if len(assists.work) == 1 {
		for {
			// Ours alone, and drained by the last end: it cannot fill.
			if _, err := unix.Write(fd, one[:]); err != unix.EINTR {
				break
			}
		}
	}
	assists.mu.Unlock()
	return func() {
		assists.mu.Lock()
		for i, x := range assists.work {
			if x == w {
				assists.work = append(assists.work[:i], assists.work[i+1:]...)
				assists.n.Store(int32(len(assists.work)))
				break
			}
		}
		if len(assists.work) == 0 {
			_ = drain(fd)
		}
		assists.mu.Unlock()
	}
}

// runAssists calls the posted work (at most maxAssistWork of it) on the
// calling thread and returns the generation it looked at; all is false if
// stop ended it before it had called every piece of work, which the
// caller then has not run.
func runAssists(stop func() bool) (gen uint64, all bool) {
	var ws [maxAssistWork]*assistWork
	assists.mu.Lock()
	gen = assists.gen.Load()
	n := copy(ws[:], assists.work)
	assists.mu.Unlock()
	for _, w := range ws[:n] {
		if stop() {
			return gen, false
		}
		w.f(stop)
	}
	return gen, true
}

// assistPoll is what a waiter that last ran generation seen (0: none)
// polls for assists: the eventfd, or, while the latest post, which it ran
// already, lasts, -1 (ppoll skips it) and sliced, a bound of its sleep.
func assistPoll(seen uint64) (fd int32, sliced bool) {
	f := assistFd()
	switch {
	case f < 0:
		return -1, false
	case seen != 0 && assists.gen.Load() == seen && assists.n.Load() > 0:
		return -1, true
	}
	return int32(f), false
}
