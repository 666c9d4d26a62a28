package shm

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bell is an eventfd doorbell. Wake is a single write(2); Wait blocks the
// calling goroutine's thread in ppoll(2) directly, with no reader goroutine
// in between, because handing a wake-up from a reader goroutine to the
// waiter over a channel costs tens of microseconds of scheduler latency.
//
// The eventfd is never wrapped in an *os.File, so it is never registered
// with Go's netpoller: a ring must not wake the runtime's poller thread,
// only the one waiter.
//
// Several goroutines may Wait at once: one (the leader) sits in ppoll and
// drains the counter; the others wait for the leader to return and then
// re-check their own condition. A waiter that needs no followers allocates
// nothing.
//
// The leader also polls the process's assist eventfd (see Assist) and
// runs the work posted there without returning from Wait.
//
// The peer holds the same eventfd and can write any value into its
// counter, read it, or change the file's flags, which both processes
// share. So nothing here may block on the eventfd itself:
//
//   - The eventfd is non-blocking (the host creates it with EFD_NONBLOCK).
//     A write that would block (the counter at its maximum, which single
//     increments never reach) fails with EAGAIN: Wake reports
//     ErrBellSaturated, a protocol violation. Wake also checks before each
//     write that the descriptor is still non-blocking (ErrBellBlocking): a
//     peer that cleared O_NONBLOCK could otherwise block the next write for
//     good. A peer that clears the flag and saturates the counter between
//     that check and the write still blocks it; Close and Unstick read the
//     counter down until the write returns.
//   - The leader reads with RWF_NOWAIT, which never blocks whatever the
//     file's flags: a peer that drained the counter between ppoll and the
//     read makes it a spurious wake-up, not a hang.
//   - Close wakes the leader through an eventfd of this process alone
//     (intr), which no peer can fill.
type Bell struct {
	fd int

	mu        sync.Mutex
	intr      int // private eventfd polled beside fd, made by the first leader; -1 before
	leading   bool
	followers chan struct{} // closed when the current leader returns; nil if none
	ringing   int           // Wakes between their check of fdClosed and the end of their write
	closed    bool
	fdClosed  bool

	// stopAssist is the stop function the leader passes assists (see
	// Assist); the leader's alone.
	stopAssist func() bool
}

func newBell() (*Bell, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &Bell{fd: fd, intr: -1}, nil
}

// openBell adopts an inherited eventfd after checking that it is one, and
// a non-blocking one (see Bell).
func openBell(fd int) (*Bell, error) {
	if err := checkFdKind(fd, "anon_inode:[eventfd]"); err != nil {
		return nil, err
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, err
	}
	if fl&unix.O_NONBLOCK == 0 {
		return nil, layoutErr("doorbell", "eventfd %d is blocking; the creator must make it with EFD_NONBLOCK", fd)
	}
	return &Bell{fd: fd, intr: -1}, nil
}

var one = func() (b [8]byte) { binary.LittleEndian.PutUint64(b[:], 1); return }()

// Wake wakes the waiter, if any. It never blocks unless the peer tampers
// with the eventfd (see Bell); a tampered or saturated doorbell is reported
// as ErrBellBlocking or ErrBellSaturated, both protocol violations.
func (b *Bell) Wake() error {
	b.mu.Lock()
	if b.fdClosed {
		b.mu.Unlock()
		return ErrClosed
	}
	// The count keeps Close from releasing a number this write may still
	// use (the process could reuse it for another file meanwhile).
	b.ringing++
	b.mu.Unlock()
	// One written to the eventfd, unless the peer made it blocking (the
	// write could then stall this side: see Bell).
	fl, err := unix.FcntlInt(uintptr(b.fd), unix.F_GETFL, 0)
	switch {
	case err != nil:
	case fl&unix.O_NONBLOCK == 0:
		err = ErrBellBlocking
	default:
		for {
			if _, err = unix.Write(b.fd, one[:]); err != unix.EINTR {
				break
			}
		}
		if err == unix.EAGAIN {
			err = ErrBellSaturated
		}
	}
	b.mu.Lock()
	b.ringing--
	if b.closed && b.ringing == 0 && !b.leading {
		b.closeFdLocked()
	}
	b.mu.Unlock()
	return err
}

// Wait blocks until the bell is rung or timeout passes (ErrTimeout) or the
// bell is closed (ErrClosed). A return of nil means "re-check your
// condition": wake-ups may be spurious.
func (b *Bell) Wait(timeout time.Duration) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.leading {
		if b.followers == nil {
			b.followers = make(chan struct{})
		}
		ch := b.followers
		b.mu.Unlock()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-t.C:
			return ErrTimeout
		}
	}
	if b.intr < 0 {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			b.mu.Unlock()
			return err
		}
		b.intr = fd
	}
	b.leading = true
	b.mu.Unlock()

	err := b.poll(timeout)

	b.mu.Lock()
	b.leading = false
	if b.followers != nil {
		close(b.followers)
		b.followers = nil
	}
	if b.closed {
		err = ErrClosed
		if b.ringing == 0 {
			b.closeFdLocked()
		}
	}
	b.mu.Unlock()
	return err
}

// poll is the leader's wait: ppoll on the doorbell, the bell's own intr
// and the process's assists (see Assist), which it runs and then sleeps
// again.
func (b *Bell) poll(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	fds := [3]unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLIN}, {Fd: int32(b.intr), Events: unix.POLLIN}, {Fd: int32(assistFd()), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrTimeout
		}
		ts := unix.NsecToTimespec(int64(left))
		n, err := unix.Ppoll(fds[:], &ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue // timed out per the kernel; the loop re-checks the deadline
		}
		if fds[1].Revents != 0 {
			return nil // Close; Wait reports it
		}
		if fds[0].Revents == 0 {
			if b.stopAssist == nil {
				b.stopAssist = b.rung
			}
			runAssists(b.stopAssist)
			continue
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return errors.New("shm: doorbell: poll reported an error on the eventfd")
		}
		if err := drain(b.fd); err != nil {
			return err
		}
		return nil
	}
}

// rung reports whether the doorbell or intr is readable now: a leader
// running assists stops at once for its own link.
func (b *Bell) rung() bool {
	fds := [2]unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLIN}, {Fd: int32(b.intr), Events: unix.POLLIN}}
	var ts unix.Timespec
	for {
		// A signal (the runtime's preemption, say) fails the call with
		// EINTR and n = -1, which is no ring.
		n, err := unix.Ppoll(fds[:], &ts, nil)
		if err != unix.EINTR {
			return n > 0 || err != nil
		}
	}
}

// drain resets the counter without ever blocking: RWF_NOWAIT holds
// whatever the file's flags say. EAGAIN (the peer read it first) is a
// spurious wake-up. The system call is made directly with an iovec on the
// stack: unix.Preadv2 allocates its iovecs, and a wake-up must not
// allocate.
func drain(fd int) error {
	var buf [8]byte
	var iov unix.Iovec
	iov.Base = &buf[0]
	iov.SetLen(len(buf))
	for {
		// preadv2(fd, iov, 1, pos = -1 (the file position: an eventfd
		// has none), RWF_NOWAIT); pos is passed as its low and high
		// words.
		_, _, e := unix.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1,
			^uintptr(0), 0, unix.RWF_NOWAIT)
		var err error
		if e != 0 {
			err = e
		}
		switch err {
		case nil, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.EINVAL, unix.ENOSYS:
			// Kernels before 5.12 read eventfds without RWF_NOWAIT
			// support; the descriptor is non-blocking (Wake checks it).
			_, err = unix.Read(fd, buf[:])
			if err == unix.EAGAIN {
				return nil
			}
		}
		return err
	}
}

// Close wakes every waiter with ErrClosed and releases the eventfd once no
// goroutine is inside ppoll on it or writing to it (closing it under them
// would let the number be reused by another file while still in use). A
// Wake stuck in its write (see Bell) is freed by Unstick, which Close
// starts.
func (b *Bell) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.leading {
		_, _ = unix.Write(b.intr, one[:]) // ours alone: it cannot be full
	}
	stuck := b.ringing > 0
	if !b.leading && !stuck {
		b.closeFdLocked()
	}
	b.mu.Unlock()
	if stuck {
		go b.Unstick()
	}
	return nil
}

// unstickFor bounds how long Unstick reads the counter down.
const unstickFor = 5 * time.Second

// Unstick frees a Wake blocked in its write by a peer that made the
// eventfd blocking and filled its counter: each read empties the counter,
// which wakes the writer. It returns once no Wake is in progress, or
// after unstickFor (a peer that refills the counter faster than this
// side's writer runs keeps that goroutine; nothing else waits for it).
func (b *Bell) Unstick() {
	deadline := time.Now().Add(unstickFor)
	for {
		b.mu.Lock()
		busy := b.ringing > 0 && !b.fdClosed
		if busy {
			_ = drain(b.fd) // under the lock: the number stays ours
		}
		b.mu.Unlock()
		if !busy || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *Bell) closeFdLocked() {
	if !b.fdClosed {
		b.fdClosed = true
		_ = unix.Close(b.fd)
		if b.intr >= 0 {
			_ = unix.Close(b.intr)
			b.intr = -1
		}
	}
}
