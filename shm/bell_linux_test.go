package shm

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// within runs f and fails the test if it does not return within d: the
// point of these tests is that nothing blocks.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// fill writes v into an eventfd's counter, as a peer holding it can.
func fillCounter(t *testing.T, fd int, v uint64) {
	t.Helper()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	_, err := unix.Write(fd, b[:])
	require.NoError(t, err)
}

func setBlocking(t *testing.T, fd int) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	require.NoError(t, err)
}

// TestBellSaturatedByPeer: a peer that writes the counter to its maximum
// makes the next ring a protocol violation, not a write blocked for good
// while it holds the bell (and with it the link's sends and Close).
func TestBellSaturatedByPeer(t *testing.T) {
	b, err := newBell()
	require.NoError(t, err)
	defer b.Close()
	fillCounter(t, b.fd, 0xfffffffffffffffe)
	within(t, 5*time.Second, "Ring", func() {
		err = b.Wake()
	})
	require.ErrorIs(t, err, ErrBellSaturated)
	require.ErrorIs(t, err, ErrProtocol)
	within(t, 5*time.Second, "Close", func() { require.NoError(t, b.Close()) })
}

// TestBellMadeBlockingByPeer: the eventfd's flags are shared with the
// peer; one that clears O_NONBLOCK breaks the protocol at the next ring,
// before a write could block.
func TestBellMadeBlockingByPeer(t *testing.T) {
	b, err := newBell()
	require.NoError(t, err)
	defer b.Close()
	setBlocking(t, b.fd)
	fillCounter(t, b.fd, 0xfffffffffffffffe)
	within(t, 5*time.Second, "Ring", func() { err = b.Wake() })
	require.ErrorIs(t, err, ErrBellBlocking)
	_, err = openBell(dup(t, b.fd))
	require.ErrorContains(t, err, "blocking", "a blocking doorbell is refused at open")
}

func dup(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	require.NoError(t, err)
	return d
}

// TestBellWaiterReadsWithoutBlocking: the counter the waiter drains may
// have been drained by the peer first (it holds the eventfd too), on a
// descriptor the peer made blocking: the read is a spurious wake-up, not
// a hang.
func TestBellWaiterReadsWithoutBlocking(t *testing.T) {
	b, err := newBell()
	require.NoError(t, err)
	defer b.Close()
	setBlocking(t, b.fd)
	within(t, 5*time.Second, "drain of an empty counter", func() { require.NoError(t, drain(b.fd)) })
	fillCounter(t, b.fd, 3)
	within(t, 5*time.Second, "Wait", func() { require.NoError(t, b.Wait(time.Second)) })
}

// TestBellCloseWakesWaiter: Close ends a Wait at once, through the bell's
// own private eventfd: the shared one may be full.
func TestBellCloseWakesWaiter(t *testing.T) {
	b, err := newBell()
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- b.Wait(time.Minute) }()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.leading
	}, 5*time.Second, time.Millisecond)
	within(t, 5*time.Second, "Close", func() { require.NoError(t, b.Close()) })
	select {
	case err := <-errc:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	b.mu.Lock()
	require.True(t, b.fdClosed)
	b.mu.Unlock()
}

// TestBellUnstickFreesBlockedWake: a ring blocked in its write (the peer
// cleared O_NONBLOCK and filled the counter between the ring's check and
// its write) is freed when the bell is closed: Close reads the counter
// down until the write returns, and only then releases the descriptor.
func TestBellUnstickFreesBlockedWake(t *testing.T) {
	b, err := newBell()
	require.NoError(t, err)
	setBlocking(t, b.fd)
	fillCounter(t, b.fd, 0xfffffffffffffffe)
	// What Ring does once past its check.
	b.mu.Lock()
	b.ringing++
	b.mu.Unlock()
	wrote := make(chan error, 1)
	go func() {
		_, err := unix.Write(b.fd, one[:])
		b.mu.Lock()
		b.ringing--
		if b.closed && b.ringing == 0 && !b.leading {
			b.closeFdLocked()
		}
		b.mu.Unlock()
		wrote <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the write block
	select {
	case <-wrote:
		t.Fatal("the write did not block: the test proves nothing")
	default:
	}
	within(t, 5*time.Second, "Close", func() { require.NoError(t, b.Close()) })
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked ring was not freed")
	}
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.fdClosed
	}, 5*time.Second, time.Millisecond)
}

// TestBellWakeAllocatesNothing: a ring and the wake-up it causes allocate
// nothing (the calls that cross the link must not).
func TestBellWakeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		// The race detector's instrumentation moves the read's buffer
		// to the heap; test.sh's second pass, without it, runs this.
		t.Skip("allocations are not counted under the race detector")
	}
	b, err := newBell()
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Wake())
	require.NoError(t, b.Wait(time.Second)) // the private eventfd is made once
	allocs := testing.AllocsPerRun(100, func() {
		if err := b.Wake(); err != nil {
			t.Fatal(err)
		}
		if err := b.Wait(time.Second); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
