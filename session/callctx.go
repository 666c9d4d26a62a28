package session

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A handler's context. The standard way to give it the caller's deadline,
// context.WithDeadline, costs a served call a runtime timer set and
// stopped, a timerCtx, and a map of children in the cancellable parent
// (about 0.4 us of a 2 us round trip, measured with
// BenchmarkSessionUnary/cross-process-deadline), while almost every
// handler returns long before its deadline. So the deadline is a field of
// callCtx, and the session keeps the running calls' deadlines in one heap
// with one timer, armed for the earliest: a call's start and end cost a
// heap push and removal under a mutex, and the timer is reset only when a
// call comes with a deadline earlier than the one it is armed for.
//
// callCtx is a context of its own, whose Done channel, error and
// AfterFunc registrations it keeps, so that its deadline can end it as a
// timerCtx would (Err: DeadlineExceeded), contexts derived from it too
// (the standard library registers them through its AfterFunc method,
// without a goroutine). It is one allocation: its Done channel is made
// when first asked for, and the cancelCtx that context.Cause needs only
// when first looked for (see Value). It answers Value(callKey{})
// itself, which saves a valueCtx.

// callCtx is the context of one call served.
type callCtx struct {
	ch       *channel
	deadline time.Time // zero: none
	index    int       // in the session's deadlines heap; -1 when not in it

	ended atomic.Bool // err is set: Err's look without the lock
	mu    sync.Mutex
	done  chan struct{} // made on first use
	err   error         // nil while the call's context lives
	cause error
	funcs []*afterFunc // AfterFunc registrations not yet run
	// causeCtx is a cancelCtx cancelled with cause, made when a lookup
	// of the standard library's own key reaches Value: context.Cause
	// reads the cause there.
	causeCtx    context.Context
	causeCancel context.CancelCauseFunc
}

type afterFunc struct {
	f       func()
	stopped bool // guarded by callCtx.mu
}

// newCallCtx makes a call's context; aux is the time the caller had left
// (0: no deadline).
func newCallCtx(ch *channel, aux uint64) *callCtx {
	c := &callCtx{ch: ch, index: -1}
	if aux > 0 {
		c.deadline = time.Now().Add(time.Duration(min(aux, 1<<62)))
	}
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	return c.done
}

func (c *callCtx) Err() error {
	if !c.ended.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value answers callKey itself. The standard library looks for its
// cancelCtx with a key of type *int (context.Cause, and deriving a
// context): that lookup gets the causeCtx, made then; every other key
// finds nothing here, as under context.Background.
func (c *callCtx) Value(key any) any {
	switch key.(type) {
	case callKey:
		return c.ch
	case *int:
		c.mu.Lock()
		if c.causeCtx == nil {
			c.causeCtx, c.causeCancel = context.WithCancelCause(context.Background())
			if c.err != nil {
				c.causeCancel(c.cause)
			}
		}
		cc := c.causeCtx
		c.mu.Unlock()
		return cc.Value(key)
	}
	return nil
}

// AfterFunc runs f once the context ends (at once if it has); stop
// unregisters it and reports whether it had not run. The standard
// library registers derived contexts and context.AfterFunc through it.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		f()
		return func() bool { return false }
	}
	c.funcs = append(c.funcs, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.stopped || c.err != nil {
			return false
		}
		a.stopped = true
		return true
	}
}

// cancel ends the context (Err: Canceled) with cause, once; it is the
// channel's cancel (see channel.fail).
func (c *callCtx) cancel(cause error) { c.end(context.Canceled, cause) }

// expire ends the call's context at its deadline: Err and Cause say
// DeadlineExceeded, as context.WithDeadline's would.
func (c *callCtx) expire() { c.end(context.DeadlineExceeded, context.DeadlineExceeded) }

func (c *callCtx) end(err, cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.cause = err, cause
	c.ended.Store(true)
	if c.causeCancel != nil {
		c.causeCancel(cause) // before Done: what it wakes may ask for the cause
	}
	if c.done != nil {
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, a := range funcs {
		if !a.stopped { // set only under mu, before err; read after
			a.f()
		}
	}
}

// deadlines holds the deadlines of a session's calls being served (or
// waiting for a handler), earliest first, and one timer armed for the
// earliest or earlier: when it fires it expires what is due and arms
// itself for the earliest left.
type deadlines struct {
	mu     sync.Mutex
	calls  deadlineHeap
	timer  *time.Timer
	armed  time.Time // when the timer fires; zero when it is not armed
	closed bool
}

// add watches c's deadline, if it has one.
func (d *deadlines) add(c *callCtx) {
	if c.deadline.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	heap.Push(&d.calls, c)
	if d.armed.IsZero() || c.deadline.Before(d.armed) {
		d.arm(c.deadline)
	}
}

// remove stops watching c (its call ended). The timer stays armed: when
// it fires it finds nothing due and arms for what is left, which costs
// less than resetting it at each call's end.
func (d *deadlines) remove(c *callCtx) {
	if c.deadline.IsZero() {
		return
	}
	d.mu.Lock()
	if c.index >= 0 {
		heap.Remove(&d.calls, c.index)
	}
	d.mu.Unlock()
}

func (d *deadlines) arm(at time.Time) {
	d.armed = at
	wait := time.Until(at)
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
		return
	}
	d.timer.Reset(wait)
}

// fire expires the calls whose deadlines have passed (timer goroutine).
func (d *deadlines) fire() {
	var due []*callCtx
	d.mu.Lock()
	now := time.Now()
	for len(d.calls) > 0 && !d.calls[0].deadline.After(now) {
		due = append(due, heap.Pop(&d.calls).(*callCtx))
	}
	d.armed = time.Time{}
	if len(d.calls) > 0 && !d.closed {
		d.arm(d.calls[0].deadline)
	}
	d.mu.Unlock()
	for _, c := range due {
		c.expire() // outside mu: cancelling runs the context's AfterFuncs
	}
}

// close stops the timer and forgets every deadline: the session has
// ended, and die has cancelled every call's context.
func (d *deadlines) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	for _, c := range d.calls {
		c.index = -1
	}
	d.calls = nil
}

// deadlineHeap orders calls by deadline (container/heap).
type deadlineHeap []*callCtx

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *deadlineHeap) Push(x any) {
	c := x.(*callCtx)
	c.index = len(*h)
	*h = append(*h, c)
}

func (h *deadlineHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	c.index = -1
	*h = old[:len(old)-1]
	return c
}
