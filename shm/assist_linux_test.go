package shm

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parkedWaiter starts a goroutine that waits on a new bell and returns
// the bell and the Wait's result, once the goroutine is the leader (in or
// entering ppoll).
func parkedWaiter(t *testing.T) (*Bell, <-chan error) {
	t.Helper()
	b, err := newBell()
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	res := make(chan error, 1)
	go func() { res <- b.Wait(20 * time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		leading := b.leading
		b.mu.Unlock()
		if leading {
			break
		}
		require.True(t, time.Now().Before(deadline), "the waiter never became the leader")
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // into ppoll
	return b, res
}

// TestAssistRunsOnParkedWaiter: posted work is run by a thread parked on
// a doorbell (nobody else runs it here), once per post, and the waiter
// goes back to sleep rather than returning from Wait; the next post runs
// again, and a ring still ends the Wait.
func TestAssistRunsOnParkedWaiter(t *testing.T) {
	b, res := parkedWaiter(t)
	var runs atomic.Int32
	ran := make(chan struct{}, 4)
	work := func(stop func() bool) {
		runs.Add(1)
		ran <- struct{}{}
	}
	end := Assist(work)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		end()
		t.Fatal("the parked waiter did not run the posted work")
	}
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, runs.Load(), "the work was run again for the same post")
	end()
	select {
	case err := <-res:
		t.Fatalf("Wait returned (%v) for an assist", err)
	default:
	}

	end = Assist(work)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		end()
		t.Fatal("the parked waiter did not run the second post")
	}
	end()
	require.EqualValues(t, 2, runs.Load())

	require.NoError(t, b.Wake())
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the ring")
	}
}

// stoppable is posted work that runs until its stop function says so (at
// most 10 s), once: it closes started when it begins and stopped when
// stop ended it.
func stoppable() (work func(stop func() bool), started, stopped chan struct{}) {
	started, stopped = make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	work = func(stop func() bool) {
		if runs.Add(1) > 1 {
			return
		}
		close(started)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if stop() {
				close(stopped)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	return work, started, stopped
}

// stopsFor posts stoppable work to a parked waiter, does end (a ring or a
// close of the waiter's bell) once the work runs, and checks that the
// work was told to stop and that the Wait returned want.
func stopsFor(t *testing.T, end func(*Bell) error, want error) {
	b, res := parkedWaiter(t)
	work, started, stopped := stoppable()
	withdraw := Assist(work)
	defer withdraw()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the parked waiter did not run the posted work")
	}
	require.NoError(t, end(b))
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the work was not told to stop")
	}
	select {
	case err := <-res:
		require.ErrorIs(t, err, want)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return")
	}
}

// TestAssistStopsForDoorbell: work that runs until told to stop gives the
// thread back as soon as the waiter's own doorbell rings, and the Wait
// then returns nil.
func TestAssistStopsForDoorbell(t *testing.T) {
	stopsFor(t, (*Bell).Wake, nil)
}

// TestAssistStopsForClose: Close of the bell stops the work too, and the
// Wait reports ErrClosed.
func TestAssistStopsForClose(t *testing.T) {
	stopsFor(t, (*Bell).Close, ErrClosed)
}
