package delivery_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
)

// TestSendAcknowledged: an acknowledged notification runs its handler
// once, with the message as it was at Send (the caller reused its
// buffer), its ID and the caller's metadata; Wait returns only after the
// handler returned; OnAck reports it.
func TestSendAcknowledged(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)

	type ackRec struct {
		id  string
		err error
	}
	var mu sync.Mutex
	var acks []ackRec
	s := delivery.NewSender(conn, delivery.SenderConfig{OnAck: func(id string, err error) {
		mu.Lock()
		acks = append(acks, ackRec{id, err})
		mu.Unlock()
	}})

	buf := plexus.Raw("hello")
	r, err := s.Send(plexus.WithMetadata(ctx, plexus.Metadata{"x-trace": "t1"}), noteID, buf)
	require.NoError(t, err)
	copy(buf, "XXXXX") // the caller may reuse m once Send returned
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}-1$`), r.ID())
	require.Equal(t, r.ID(), waitEntered(t, snk))

	// The handler runs: not acknowledged yet.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = r.Wait(short)
	cancel()
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.Contains(t, err.Error(), "not acknowledged yet")
	require.NoError(t, r.Err(), "pending")
	select {
	case <-r.Done():
		t.Fatal("done while the handler runs")
	default:
	}

	close(snk.gate)
	require.NoError(t, r.Wait(ctx))
	runs, returned := snk.snapshot()
	require.Equal(t, 1, returned, "the handler had returned when Wait did")
	require.Len(t, runs, 1)
	require.Equal(t, "hello", runs[0].msg)
	require.Equal(t, r.ID(), runs[0].id)
	require.Equal(t, "t1", runs[0].md["x-trace"], "the caller's metadata travels with the message")
	require.NoError(t, r.Err())
	<-r.Done()

	require.NoError(t, s.Close(ctx)) // waits for OnAck
	require.Equal(t, []ackRec{{r.ID(), nil}}, acks)
	st := s.Stats()
	require.Equal(t, delivery.SenderStats{Queued: 1, Attempts: 1, Acked: 1}, st)

	// Another Sender's IDs have another epoch: unique across restarts.
	r2, err := delivery.NewSender(conn, delivery.SenderConfig{}).Send(ctx, noteID, plexus.Raw("x"))
	require.NoError(t, err)
	require.NotEqual(t, r.ID()[:16], r2.ID()[:16])
	require.NoError(t, r2.Wait(ctx))
}

// TestSendConcurrent: messages sent from several goroutines at once,
// more than MaxPending, are each handled exactly once.
func TestSendConcurrent(t *testing.T) {
	snk := newSink()
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{MaxPending: 16})
	const senders, each = 4, 200
	receipts := make(chan *delivery.Receipt, senders*each)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				r, err := s.Send(ctx, noteID, plexus.Raw(fmt.Sprintf("%d/%d", g, i)))
				if err != nil {
					t.Error(err)
					return
				}
				receipts <- r
			}
		})
	}
	wg.Wait()
	close(receipts)
	for r := range receipts {
		require.NoError(t, r.Wait(ctx))
	}
	runs, _ := snk.snapshot()
	require.Len(t, runs, senders*each)
	ids, msgs := map[string]bool{}, map[string]bool{}
	for _, h := range runs {
		ids[h.id], msgs[h.msg] = true, true
	}
	require.Len(t, ids, senders*each)
	require.Len(t, msgs, senders*each)
	require.NoError(t, s.Close(ctx))
	require.Zero(t, s.Stats().Pending)
}

// TestBackpressurePending: with MaxPending 2 messages pending (their
// handler blocked), a third Send waits for room and fails at its
// deadline; once the handler returns, the room is there.
func TestBackpressurePending(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{MaxPending: 2})
	var rs []*delivery.Receipt
	for i := range 2 {
		r, err := s.Send(ctx, noteID, plexus.Raw(fmt.Sprint(i)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	t0 := time.Now()
	_, err := s.Send(short, noteID, plexus.Raw("third"))
	cancel()
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(t0), 150*time.Millisecond, "Send waited for room")
	require.Contains(t, err.Error(), "no room")
	require.Equal(t, 2, s.Stats().Pending)

	fourth := make(chan error, 1)
	go func() {
		r, err := s.Send(ctx, noteID, plexus.Raw("fourth"))
		if err == nil {
			err = r.Wait(ctx)
		}
		fourth <- err
	}()
	close(snk.gate)
	for _, r := range rs {
		require.NoError(t, r.Wait(ctx))
	}
	require.NoError(t, <-fourth)
	runs, _ := snk.snapshot()
	require.Len(t, runs, 3, "the refused Send sent nothing")
	require.NoError(t, s.Close(ctx))
}

// TestBackpressureBytes: MaxBytes bounds the pending messages' bytes the
// same way, and a message larger than MaxBytes is refused at once.
func TestBackpressureBytes(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{MaxBytes: 10})

	r, err := s.Send(ctx, noteID, plexus.Raw("12345678"))
	require.NoError(t, err)
	require.Equal(t, int64(8), s.Stats().PendingBytes)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = s.Send(short, noteID, plexus.Raw("1234"))
	cancel()
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	_, err = s.Send(ctx, noteID, plexus.Raw("12345678901"))
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	require.Contains(t, err.Error(), "MaxBytes")

	close(snk.gate)
	require.NoError(t, r.Wait(ctx))
	r, err = s.Send(ctx, noteID, plexus.Raw("1234"))
	require.NoError(t, err)
	require.NoError(t, r.Wait(ctx))
	require.NoError(t, s.Close(ctx))
	require.Zero(t, s.Stats().PendingBytes)
}

// TestResendAfterAckTimeout: a message whose acknowledgement does not
// come within AckTimeout (its handler is slow) is sent again; the
// resends wait for the first handling, the handler runs once, with a
// context the timed-out attempts did not cancel, and the message is
// acknowledged once it returns.
func TestResendAfterAckTimeout(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{AckTimeout: 50 * time.Millisecond, MinBackoff: time.Millisecond})
	r, err := s.Send(ctx, noteID, plexus.Raw("slow"))
	require.NoError(t, err)
	waitEntered(t, snk)
	require.Eventually(t, func() bool { return s.Stats().Attempts >= 3 }, 10*time.Second, time.Millisecond,
		"resent after each AckTimeout")
	close(snk.gate)
	require.NoError(t, r.Wait(ctx))
	runs, _ := snk.snapshot()
	require.Len(t, runs, 1)
	require.False(t, runs[0].ctxDone, "the handler's context is not the attempt's")
	require.Empty(t, snk.entered, "no resend ran the handler")
	require.NoError(t, s.Close(ctx))
}

// TestMaxAge: a message not acknowledged within MaxAge is given up on;
// its receipt says so.
func TestMaxAge(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	t.Cleanup(func() { close(snk.gate) }) // runs before the pair's cleanup
	ctx := testCtx(t)
	var acked sync.WaitGroup
	acked.Add(1)
	var ackErr error
	s := delivery.NewSender(conn, delivery.SenderConfig{AckTimeout: 20 * time.Millisecond, MaxAge: 200 * time.Millisecond,
		OnAck: func(_ string, err error) { ackErr = err; acked.Done() }})
	t0 := time.Now()
	r, err := s.Send(ctx, noteID, plexus.Raw("late"))
	require.NoError(t, err)
	err = r.Wait(ctx)
	took := time.Since(t0)
	require.ErrorIs(t, err, delivery.ErrExpired)
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.Contains(t, err.Error(), "MaxAge 200ms")
	require.GreaterOrEqual(t, took, 200*time.Millisecond)
	require.Less(t, took, 5*time.Second)
	acked.Wait()
	require.Equal(t, err, ackErr)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Failed)
	require.Zero(t, st.Pending)
	require.NoError(t, s.Close(ctx))
}

// TestCloseWaitsForPending: Close gives the pending messages time within
// its context and returns nil once they are acknowledged; Send then fails
// with ErrClosed.
func TestCloseWaitsForPending(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{})
	r, err := s.Send(ctx, noteID, plexus.Raw("x"))
	require.NoError(t, err)
	waitEntered(t, snk)

	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a message pending", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(snk.gate)
	require.NoError(t, <-closed)
	require.NoError(t, r.Err(), "acknowledged")

	_, err = s.Send(ctx, noteID, plexus.Raw("y"))
	require.ErrorIs(t, err, delivery.ErrClosed)
	require.NoError(t, s.Close(ctx), "again")
}

// TestCloseGivesUp: when Close's context ends first, it stops resending:
// the pending message's receipt and a Send waiting for room fail with
// ErrClosed, and nothing stays pending.
func TestCloseGivesUp(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	t.Cleanup(func() { close(snk.gate) })
	ctx := testCtx(t)
	s := delivery.NewSender(conn, delivery.SenderConfig{MaxPending: 1})
	r, err := s.Send(ctx, noteID, plexus.Raw("x"))
	require.NoError(t, err)
	waitEntered(t, snk)
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Send(ctx, noteID, plexus.Raw("no room"))
		waiting <- err
	}()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = s.Close(short)
	require.ErrorIs(t, err, delivery.ErrClosed)
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.Contains(t, err.Error(), "1 messages not acknowledged")
	require.ErrorIs(t, <-waiting, delivery.ErrClosed)

	select {
	case <-r.Done():
	default:
		t.Fatal("the pending receipt is not settled after Close")
	}
	require.ErrorIs(t, r.Err(), delivery.ErrClosed)
	require.ErrorIs(t, r.Err(), plexus.ErrCanceled)
	require.Contains(t, r.Err().Error(), "may have been handled")
	require.Equal(t, delivery.SenderStats{Queued: 1, Attempts: 1, Failed: 1}, s.Stats())
}
