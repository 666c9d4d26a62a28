package shm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The life word of a side (SPEC.md "Segment", the per-side lines) tells the
// other side that this side's process is exiting. The holding side
// registers the word in the robust futex list (set_robust_list(2)) of a
// thread that lives as long as the process; when that thread exits,
// however the process dies, the kernel sets futexOwnerDied in the word and
// wakes whoever waits on it. It does so at the start of the exit, before it
// unmaps the process's memory (for a large segment, milliseconds) and
// before it closes the process's descriptors, which is when the control
// socket would tell. The socket stays the authority: a side that never
// holds its word, or a kernel that refuses the registration, only makes
// the death take that long to notice.
const (
	futexWaiters   = 0x80000000 // FUTEX_WAITERS: a waiter sleeps on the word
	futexOwnerDied = 0x40000000 // FUTEX_OWNER_DIED: the holding thread exited

	futexWait = 0 // FUTEX_WAIT, shared: the two processes map the same file
	futexWake = 1 // FUTEX_WAKE, shared
)

// robustHead is the kernel's struct robust_list_head: a circular list of
// entries, each pointing futexOffset bytes ahead to its futex word.
type robustHead struct {
	list          uintptr // robust_list.next: the first entry, or the head itself when empty
	futexOffset   int64
	listOpPending uintptr
}

// lifeHold is this side's registration of its life word: one goroutine
// locked to its thread, which holds the word until release.
type lifeHold struct {
	stop chan struct{}
	done chan struct{}
}

// HoldLife registers this side's life word on a thread that lives until
// the segment is closed, so that the peer's WatchPeerLife learns of this
// process's death at once. It is called once, by the side whose death the
// other side watches (the plugin); a second call does nothing. It fails
// only if the kernel refuses the registration, which leaves the death to
// the control socket.
func (e *Endpoint) HoldLife() error {
	s := e.seg
	if s.life != nil {
		return nil
	}
	h := &lifeHold{stop: make(chan struct{}), done: make(chan struct{})}
	errc := make(chan error, 1)
	go h.run(s.m.sideWord32(e.side, sideLife), errc)
	if err := <-errc; err != nil {
		return err
	}
	s.life = h
	return nil
}

// run is the holding goroutine: it registers the word on its locked
// thread and undoes that when the segment is closed.
func (h *lifeHold) run(word *atomic.Uint32, errc chan<- error) {
	runtime.LockOSThread()
	undo, err := registerLife(word)
	if err != nil {
		runtime.UnlockOSThread()
		errc <- err
		return
	}
	errc <- nil
	<-h.stop
	// Undone before the segment is unmapped: at this thread's exit the
	// kernel would otherwise mark whatever is mapped at the word's address.
	undo()
	runtime.UnlockOSThread()
	close(h.done)
}

// registerLife makes word the calling thread's one robust futex and
// writes the thread's ID into it. The caller must be locked to its thread;
// undo, on the same thread, restores the thread's previous list. The head
// and the entry are on the heap (the kernel reads them when the thread
// exits, and goroutine stacks move), kept reachable by undo.
func registerLife(word *atomic.Uint32) (undo func(), err error) {
	var prev, prevLen uintptr // the thread's previous list (the C library's, in a cgo program)
	_, _, _ = unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&prev)), uintptr(unsafe.Pointer(&prevLen)))
	entry := new(uintptr)
	head := &robustHead{list: uintptr(unsafe.Pointer(entry))}
	head.futexOffset = int64(uintptr(unsafe.Pointer(word)) - uintptr(unsafe.Pointer(entry)))
	*entry = uintptr(unsafe.Pointer(head)) // the list's end
	if _, _, errno := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(head)), unsafe.Sizeof(*head), 0); errno != 0 {
		return nil, errno
	}
	// Registered before the word names the thread: a word that names it
	// is always marked when it exits.
	word.Store(uint32(unix.Gettid()))
	futexWakeAll(word) // a watcher that found the word still 0
	return func() {
		if prev != 0 {
			_, _, _ = unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, prev, prevLen, 0)
		} else {
			head.list = uintptr(unsafe.Pointer(head))
			_, _, _ = unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(head)), unsafe.Sizeof(*head), 0)
		}
		runtime.KeepAlive(entry)
	}, nil
}

// release undoes HoldLife; Segment.Close calls it before unmapping.
func (h *lifeHold) release() {
	close(h.stop)
	<-h.done
}

// lifeWatch is the state of this side's WatchPeerLife, which Interrupt
// ends.
type lifeWatch struct {
	word     atomic.Pointer[atomic.Uint32] // the peer's word, while a watch runs
	stopped  atomic.Bool
	stopOnce sync.Once
	looks    atomic.Int64 // times the watch read the word (tests bound it)
}

// lifeWaitBound bounds one sleep on the word; a watch that was not woken
// looks again.
var lifeWaitBound = time.Minute

// WatchPeerLife blocks until the peer's life word says that the thread
// holding it has exited (true), or until Interrupt (false, at once if
// Interrupt came first). The segment must stay mapped meanwhile. The
// word is the peer's to write: whatever it writes there can make this
// return true (the caller then treats the peer as dead, which only a
// dying or misbehaving peer earns) or wake it for nothing, which costs a
// look each; a run of such wake-ups is slowed to one look per
// lifeBackoff, so a peer that rewrites the word in a loop cannot make
// this side spin.
func (e *Endpoint) WatchPeerLife() bool {
	w := &e.life
	word := e.seg.m.sideWord32(1-e.side, sideLife)
	w.word.Store(word)
	defer w.word.Store(nil)
	quick := 0
	for !w.stopped.Load() {
		w.looks.Add(1)
		v := word.Load()
		if v&futexOwnerDied != 0 {
			return true
		}
		// A word that names a thread is waited on with the waiters bit
		// set, or the kernel would not wake us; 0 (not held yet) is
		// waited on as it is, until the holder's wake. A word the peer
		// rewrote between the load and the compare-and-swap is a quick
		// look like a quick wake-up, slowed down with them: a peer
		// rewriting it in a loop would otherwise buy a look per race.
		if v == 0 || v&futexWaiters != 0 || word.CompareAndSwap(v, v|futexWaiters) {
			if v != 0 {
				v |= futexWaiters
			}
			t0 := time.Now()
			futexSleep(word, v, lifeWaitBound)
			if time.Since(t0) >= lifeBackoff {
				quick = 0
				continue
			}
		}
		if quick++; quick >= lifeQuickRun {
			time.Sleep(lifeBackoff)
		}
	}
	return false
}

// A run of lifeQuickRun wake-ups, each within lifeBackoff of its sleep,
// is slowed to one look per lifeBackoff (see WatchPeerLife). An honest
// holder causes at most one: its wake after it wrote the word.
const (
	lifeQuickRun = 8
	lifeBackoff  = 10 * time.Millisecond
)

// stop ends a WatchPeerLife running now or later. The wake-up is repeated
// while the watch runs: a watcher that looked at stopped just before it
// was set sleeps only after this side's first wake, and would otherwise
// sleep out its bound.
func (w *lifeWatch) stop() {
	w.stopOnce.Do(func() {
		w.stopped.Store(true)
		go func() {
			for range 1000 {
				word := w.word.Load()
				if word == nil {
					return
				}
				// Waking a word whose segment has just been unmapped
				// fails with EFAULT and touches nothing.
				futexWakeAll(word)
				time.Sleep(time.Millisecond)
			}
		}()
	})
}

// futexSleep waits on word while it holds v, for at most d.
func futexSleep(word *atomic.Uint32, v uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWait, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWakeAll wakes every waiter on word.
func futexWakeAll(word *atomic.Uint32) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWake, uintptr(1<<31-1), 0, 0, 0)
}
