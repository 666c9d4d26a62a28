package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

var errNilConn = errors.New("retry: NewConn with a nil session.Conn")

// attempts is one logical call's retry state, on its caller's stack.
type attempts struct {
	n    int
	last error // the previous attempt's error, once there was one
	bo   backoff.ExponentialBackOff
	// boSet: bo is configured. It is set up at the first retry, so that
	// a call that succeeds at once pays nothing for it.
	boSet bool
}

// run makes the attempts of one call: attempt until it succeeds or next
// says to stop. rerun: the call may be retried after reaching the peer
// (an idempotent unary method); g, if not nil, guards its response.
// The loop is bounded by the policy's MaxAttempts.
func (c *Conn) run(ctx context.Context, p *policy, rerun bool, req plexus.Marshaler, g *guard, attempt func() error) error {
	var a attempts
	for {
		err := attempt()
		a.n++
		if err == nil {
			if b := c.t.bucket; b != nil {
				b.success()
			}
			return nil
		}
		if stop := c.next(ctx, p, &a, err, rerun, req, g); stop != nil {
			return stop
		}
		a.last = err
	}
}

// next decides, after attempt a.n failed with err, whether to try again:
// it waits the backoff and returns nil, or returns the error the call
// ends with.
func (c *Conn) next(ctx context.Context, p *policy, a *attempts, err error, rerun bool, req plexus.Marshaler, g *guard) error {
	notSent := errors.Is(err, session.ErrNotSent)
	// Only a status counts: an error that is none (a typed application
	// error some Conn decoded already, a caller's own error) says
	// nothing about the peer's health and is never retried.
	var st *plexus.Status
	counted := !notSent && errors.As(err, &st) && p.codes.has(st.Code)
	b := c.t.bucket
	if counted && b != nil {
		b.failure()
	}
	switch {
	case a.last != nil && errors.Is(err, session.ErrLeaseSent):
		// A request lease that an earlier attempt spent cannot be sent
		// again: that attempt's error is the one worth reporting, and the
		// attempt that found the lease spent, which sent nothing, is not
		// counted.
		return stopped(a.n-1, Unrepeatable, "the request lease was spent by the attempt before", a.last)
	case notSent:
		// It never left: safe to send again, whatever the method.
	case !rerun || !counted:
		if a.n == 1 {
			return err // the Conn is transparent to what it does not retry
		}
		return stopped(a.n, NotRetryable, "", err)
	case g != nil && g.touched:
		return stopped(a.n, Unrepeatable, "the failed attempt had decoded into the response", err)
	case isLease(req):
		return stopped(a.n, Unrepeatable, "the request lease was sent, which spends it", err)
	}
	if a.n >= p.maxAttempts {
		if p.maxAttempts == 1 {
			return err // MaxAttempts 1: no retries, nothing to report
		}
		return stopped(a.n, Exhausted, "", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return stopped(a.n, ContextDone, cerr.Error(), err)
	}
	if !notSent && b != nil && !b.allow() {
		return stopped(a.n, Throttled, "", err)
	}
	d := a.backoff(p)
	// Waiting past the deadline only to fail then would hide this
	// error behind DEADLINE_EXCEEDED and keep the caller waiting for
	// nothing.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); d >= left {
			return stopped(a.n, Deadline, deadlineDetail(d, left), err)
		}
	}
	if werr := c.sleep(ctx, d); werr != nil {
		return stopped(a.n, ContextDone, werr.Error(), err)
	}
	return nil
}

// backoff returns the wait before the next attempt. The arithmetic is
// backoff.ExponentialBackOff's; the result is capped at MaxBackoff,
// which that type applies before its jitter only, so that MaxBackoff is
// the longest wait, as gRPC's maxBackoff is.
func (a *attempts) backoff(p *policy) time.Duration {
	if !a.boSet {
		a.bo = backoff.ExponentialBackOff{
			InitialInterval:     p.initial,
			RandomizationFactor: p.jitter,
			Multiplier:          p.multiplier,
			MaxInterval:         p.max,
		}
		a.bo.Reset()
		a.boSet = true
	}
	return min(a.bo.NextBackOff(), p.max)
}

func isLease(m plexus.Marshaler) bool {
	_, ok := m.(*session.Lease)
	return ok
}

func stopped(n int, r Reason, detail string, err error) error {
	return &Error{Attempts: n, Reason: r, Err: err, detail: detail}
}
