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
	done := ctx.Done()
	if spin > 0 {
		start := time.Now()
		for i := 0; ; i++ {
			ok, err := ready()
			if ok || err != nil {
				return err
			}
			// Reading the clock costs tens of ns; poll a few times between
			// readings. Yield so that a peer goroutine in this process (or
			// the runtime) can run on a busy core.
			if i&15 == 15 {
				if time.Since(start) >= spin {
					break
				}
				runtime.Gosched()
			}
		}
	}
	for {
		prepare()
		ok, err := ready()
		if ok || err != nil {
			cancel()
			return err
		}
		if done != nil && ctx.Err() != nil {
			cancel()
			return ctx.Err()
		}
		left := time.Until(deadline)
		if left <= 0 {
			cancel()
			return timeoutErr
		}
		if done != nil {
			left = min(left, ctxSlice)
		}
		werr := bell.Wait(left)
		cancel()
		if werr == ErrTimeout {
			if ok, err := ready(); ok || err != nil {
				return err
			}
			if done != nil && time.Now().Before(deadline) {
				continue // a slice ended: look at ctx, then sleep again
			}
			return timeoutErr
		}
		if werr != nil {
			return werr
		}
	}
}
