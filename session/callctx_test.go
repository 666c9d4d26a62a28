package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeadlinesExpireInOrder: calls whose deadlines the session watches
// expire at their deadlines, earliest first, whatever the order they
// came in; one whose call ended first never expires; a call with no
// deadline is not watched. An expired context says DeadlineExceeded as
// context.WithDeadline's does (Err, Cause), and so does a context
// derived from it.
func TestDeadlinesExpireInOrder(t *testing.T) {
	var d deadlines
	defer d.close()
	var mu sync.Mutex
	var order []string
	ran := make(chan struct{}, 4)
	start := time.Now()
	mk := func(name string, after time.Duration) *callCtx {
		c := newCallCtx(nil, uint64(after))
		// The method, which runs f where the context ends (the timer's
		// goroutine, in deadline order); context.AfterFunc would run it
		// on a goroutine of its own.
		c.AfterFunc(func() {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			ran <- struct{}{}
		})
		return c
	}
	c300, c100, c200, ended := mk("300ms", 300*time.Millisecond), mk("100ms", 100*time.Millisecond),
		mk("200ms", 200*time.Millisecond), mk("ended", 150*time.Millisecond)
	none := newCallCtx(nil, 0)
	for _, c := range []*callCtx{c300, ended, c100, c200, none} {
		d.add(c)
	}
	dl, ok := c100.Deadline()
	require.True(t, ok)
	require.WithinDuration(t, start.Add(100*time.Millisecond), dl, 50*time.Millisecond)
	_, ok = none.Deadline()
	require.False(t, ok, "no deadline")
	require.Equal(t, -1, none.index, "not watched")
	d.remove(ended)

	derived, cancel := context.WithTimeout(c200, time.Hour)
	defer cancel()
	dl2, _ := derived.Deadline()
	require.Equal(t, c200.deadline, dl2, "a derived context keeps the earlier deadline")

	select {
	case <-c300.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the last deadline never expired")
	}
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "not before its deadline")
	select {
	case <-derived.Done():
	case <-time.After(time.Second):
		t.Fatal("the derived context did not end with its parent")
	}
	// Done closes before the context's AfterFuncs run (as a cancelCtx's
	// does before its children end): wait for the three.
	for range 3 {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("an AfterFunc never ran")
		}
	}
	mu.Lock()
	require.Equal(t, []string{"100ms", "200ms", "300ms"}, order)
	mu.Unlock()
	for _, c := range []context.Context{c100, c200, c300, derived} {
		require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
		require.ErrorIs(t, context.Cause(c), context.DeadlineExceeded)
	}
	require.NoError(t, ended.Err(), "an ended call's context is not expired")
	require.NoError(t, none.Err())
	require.Empty(t, d.calls)
}

// TestDeadlineEarlierRearms: a call whose deadline is earlier than the
// one the timer is armed for re-arms it; a call cancelled otherwise
// keeps its cause; close forgets what is left, which then never
// expires.
func TestDeadlineEarlierRearms(t *testing.T) {
	var d deadlines
	late := newCallCtx(nil, uint64(time.Hour))
	d.add(late)
	early := newCallCtx(nil, uint64(20*time.Millisecond))
	d.add(early)
	select {
	case <-early.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the earlier deadline did not re-arm the timer")
	}
	require.ErrorIs(t, early.Err(), context.DeadlineExceeded)

	why := errors.New("peer died")
	other := newCallCtx(nil, uint64(time.Hour))
	d.add(other)
	fired := make(chan struct{})
	context.AfterFunc(other, func() { close(fired) })
	stopped := context.AfterFunc(other, func() { t.Error("an AfterFunc stopped before the end ran") })
	require.True(t, stopped(), "stopped before the end")
	other.cancel(why)
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("context.AfterFunc did not run at the end")
	}
	require.ErrorIs(t, other.Err(), context.Canceled)
	require.Equal(t, why, context.Cause(other))
	d.remove(other)

	d.close()
	require.Empty(t, d.calls)
	require.Equal(t, -1, late.index)
	d.add(newCallCtx(nil, uint64(time.Millisecond))) // after close: not watched
	require.Empty(t, d.calls)
	require.NoError(t, late.Err())
}

// TestCallCtxValue: the call's context answers callKey itself and hands
// other keys to the contexts under it.
func TestCallCtxValue(t *testing.T) {
	ch := &channel{}
	c := newCallCtx(ch, 0)
	require.Same(t, ch, c.Value(callKey{}))
	type other struct{}
	require.Nil(t, c.Value(other{}))
	c.cancel(context.Canceled)
	require.ErrorIs(t, c.Err(), context.Canceled)
}
