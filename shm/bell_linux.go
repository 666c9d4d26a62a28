package shm

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Bell is an eventfd doorbell. Ring is a single write(2); Wait blocks the
// calling goroutine's thread in ppoll(2) directly, with no reader goroutine
// in between, because handing a wake-up from a reader goroutine to the
// waiter over a channel costs tens of microseconds of scheduler latency.
//
// The eventfd is blocking and never wrapped in an *os.File, so it is never
// registered with Go's netpoller: a ring must not wake the runtime's poller
// thread, only the one waiter.
//
// Several goroutines may Wait at once: one (the leader) sits in ppoll and
// drains the counter; the others wait for the leader to return and then
// re-check their own condition. A waiter that needs no followers allocates
// nothing.
type Bell struct {
	fd int

	mu        sync.Mutex
	leading   bool
	followers chan struct{} // closed when the current leader returns; nil if none
	closed    bool
	fdClosed  bool
}

func newBell() (*Bell, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Bell{fd: fd}, nil
}

// openBell adopts an inherited eventfd after checking that it is one.
func openBell(fd int) (*Bell, error) {
	if err := checkFdKind(fd, "anon_inode:[eventfd]"); err != nil {
		return nil, err
	}
	return &Bell{fd: fd}, nil
}

var one = func() (b [8]byte) { binary.LittleEndian.PutUint64(b[:], 1); return }()

// Ring wakes the waiter, if any. It never blocks: an eventfd counter only
// blocks writers at 2^64-2, which cannot be reached by single increments.
// The lock keeps a Ring from writing to a number that Close has released
// and the process may have reused for another file.
func (b *Bell) Ring() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fdClosed {
		return ErrClosed
	}
	for {
		_, err := unix.Write(b.fd, one[:])
		if err != unix.EINTR {
			return err
		}
	}
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
		b.closeFdLocked()
	}
	b.mu.Unlock()
	return err
}

func (b *Bell) poll(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	fds := [1]unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLIN}}
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
		var buf [8]byte
		// Only the leader reads, and ppoll said readable, so this read
		// does not block.
		if _, err := unix.Read(b.fd, buf[:]); err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return err
		}
		return nil
	}
}

// Close wakes every waiter with ErrClosed and releases the eventfd once no
// goroutine is inside ppoll on it (closing it under a poller would let the
// number be reused by another file while still being polled).
func (b *Bell) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.leading {
		_, _ = unix.Write(b.fd, one[:])
		return nil
	}
	b.closeFdLocked()
	return nil
}

func (b *Bell) closeFdLocked() {
	if !b.fdClosed {
		b.fdClosed = true
		_ = unix.Close(b.fd)
	}
}
