package bus

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run if goroutines outlive the tests: the bus starts
// none, and the tests' own must all have ended.
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	// The fuzzing engine keeps a signal-handling goroutine of its own.
	if code == 0 && flag.Lookup("test.fuzz").Value.String() == "" {
		if n := settleGoroutines(base, 5*time.Second); n > base {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d running, %d before the tests\n%s", n, base, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// settleGoroutines waits, at most d, for the count to come back to base
// (goroutines that were told to end may still be on their way out).
func settleGoroutines(base int, d time.Duration) int {
	deadline := time.Now().Add(d)
	n := runtime.NumGoroutine()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// requireNoLeak registers a check that the test's goroutines ended.
func requireNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		require.LessOrEqual(t, settleGoroutines(base, 5*time.Second), base, "goroutines left behind")
	})
}

// tracker hands out messages whose payloads count their releases.
type tracker struct {
	counts []atomic.Int32
}

func newTracker(n int) *tracker { return &tracker{counts: make([]atomic.Int32, n)} }

type countPayload struct{ n *atomic.Int32 }

func (p countPayload) Release() { p.n.Add(1) }

// msg is message id on subject; Data is id, 8 bytes big-endian.
func (tr *tracker) msg(subject string, id int) *Message {
	return &Message{Subject: subject, Data: binary.BigEndian.AppendUint64(nil, uint64(id)), Payload: countPayload{&tr.counts[id]}}
}

func (tr *tracker) released(id int) int { return int(tr.counts[id].Load()) }

// requireReleased checks that each of the first n messages was released
// exactly once.
func (tr *tracker) requireReleased(t *testing.T, n int) {
	t.Helper()
	for id := 0; id < n; id++ {
		require.Equal(t, 1, tr.released(id), "message %d released %d times", id, tr.released(id))
	}
}

func idOf(d *Delivery) int { return int(binary.BigEndian.Uint64(d.Data)) }

func newBus(t *testing.T, c Config) *Bus {
	t.Helper()
	b, err := New(c)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func subscribe(t *testing.T, b *Bus, pattern string, opts SubOptions) *Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), pattern, opts)
	require.NoError(t, err)
	return s
}

func publish(t *testing.T, b *Bus, m *Message) PublishResult {
	t.Helper()
	res, err := b.Publish(context.Background(), m)
	require.NoError(t, err)
	return res
}

// drain takes every buffered message, marks it Done and returns the IDs.
func drain(t *testing.T, s *Subscription) []int {
	t.Helper()
	var ids []int
	for {
		d, err := s.TryNext()
		require.NoError(t, err)
		if d == nil {
			return ids
		}
		ids = append(ids, idOf(d))
		require.NoError(t, d.Done())
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits, at most 10 s, for cond: a condition another
// goroutine brings about, observed rather than slept for.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(100 * time.Microsecond)
	}
}

// Sentinels the root package does not declare.
var (
	errFailedPrecondition = &plexus.Status{Code: plexus.FailedPrecondition}
	errAborted            = &plexus.Status{Code: plexus.Aborted}
)
