package shm

import (
	"context"
	"runtime"
	"time"
)

// ctxSlice bounds one sleep of a wait whose context can be cancelled: the
// doorbell cannot watch a Go channel, so such a wait wakes this often to
// look at the context. A context without Done (Background) sleeps whole.
const ctxSlice = 10 * time.Millisecond

// park waits until ready reports true: it polls for the spin budget, then
// announces itself through prepare (setting the shared flag the peer
// checks after publishing), re-checks, and blocks on bell. cancel withdraws
// the announcement. The budget is measured in time, not iterations, so that
// it means the same on a fast and a slow machine, and it is short: on two
// cores a spinning waiter steals the CPU its peer needs.
//
// The wait ends with timeoutErr at deadline, or with ctx's error when ctx
// is done first (its deadline or its cancellation): a caller's deadline
// bounds a wait for ring space or a slot like everything else it does.
func park(ctx context.Context, spin time.Duration, deadline time.Time, bell *Bell, timeoutErr error,
	ready func() (bool, error), prepare func(), cancel func() bool) error {
	if done, err := spinFor(spin, ready); done {
		return err
	}
	sliced := ctx.Done() != nil
	for {
		prepare()
		left, err := beforeSleep(ctx, sliced, deadline, timeoutErr, ready)
		if left <= 0 {
			cancel()
			return err
		}
		werr := bell.Wait(left)
		cancel()
		if werr == ErrTimeout {
			if ok, err := ready(); ok || err != nil {
				return err
			}
			if sliced && time.Now().Before(deadline) {
				continue // a slice ended: look at ctx, then sleep again
			}
			return timeoutErr
		}
		if werr != nil {
			return werr
		}
	}
}

// spinFor polls ready for the budget; done reports that the wait is over
// (ready, or err from it). Reading the clock costs tens of ns, so it polls
// a few times between readings, and it yields so that a peer goroutine in
// this process (or the runtime) can run on a busy core.
func spinFor(budget time.Duration, ready func() (bool, error)) (done bool, err error) {
	if budget <= 0 {
		return false, nil
	}
	start := time.Now()
	for i := 0; ; i++ {
		ok, err := ready()
		if ok || err != nil {
			return true, err
		}
		if i&15 == 15 {
			if time.Since(start) >= budget {
				return false, nil
			}
			runtime.Gosched()
		}
	}
}

// beforeSleep is the check a waiter makes after announcing itself and
// before it sleeps, so that a wake-up it announced itself for cannot be
// missed: it returns how long the next sleep may last, or, when the wait
// ends here, zero and why (nil: ready; ready's error; ctx's error; or
// timeoutErr at deadline). A wait that ctx can end sleeps in slices of
// ctxSlice, since the doorbell cannot watch ctx.
func beforeSleep(ctx context.Context, sliced bool, deadline time.Time, timeoutErr error,
	ready func() (bool, error)) (time.Duration, error) {
	if ok, err := ready(); ok || err != nil {
		return 0, err
	}
	if sliced && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, timeoutErr
	}
	if sliced {
		left = min(left, ctxSlice)
	}
	return left, nil
}
