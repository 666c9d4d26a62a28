package retry

import (
	"fmt"
	"time"
)

// Reason is why a Conn made no further attempt of a call whose last
// attempt failed.
type Reason int

const (
	// NotRetryable: the last attempt's error is not retried for its
	// method (see Conn); reported as an Error only after earlier
	// attempts, a first attempt's error being returned as it is.
	NotRetryable Reason = iota + 1
	// Exhausted: Policy.MaxAttempts attempts were made.
	Exhausted
	// Deadline: the next backoff would end after the call's deadline.
	Deadline
	// Throttled: Config.Throttle allowed no retry.
	Throttled
	// ContextDone: the call's context ended during a backoff.
	ContextDone
	// Unrepeatable: the failed attempt used up what another would need:
	// it decoded part of a response into the caller's resp, or sent the
	// request lease (a *session.Lease is spent by its first send).
	Unrepeatable
)

func (r Reason) String() string {
	switch r {
	case NotRetryable:
		return "not retryable"
	case Exhausted:
		return "attempts exhausted"
	case Deadline:
		return "deadline"
	case Throttled:
		return "throttled"
	case ContextDone:
		return "context done"
	case Unrepeatable:
		return "unrepeatable"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is the error of a call that a Conn stopped retrying: the last
// attempt's error, with how many attempts were made and why there was
// no further one. It unwraps to the last attempt's error, so that
// errors.Is, errors.As and plexus.CodeOf see that error's status.
type Error struct {
	Attempts int    // attempts made, the first included
	Reason   Reason // why no further attempt
	Err      error  // the last attempt's error
	detail   string // what Reason does not say (the backoff that did not fit, ...)
}

func (e *Error) Error() string {
	n := "attempts"
	if e.Attempts == 1 {
		n = "attempt"
	}
	return fmt.Sprintf("retry: %s after %d %s: %v", e.why(), e.Attempts, n, e.Err)
}

func (e *Error) why() string {
	s := ""
	switch e.Reason {
	case NotRetryable:
		s = "stopped: the error is not retried for this method"
	case Exhausted:
		s = "gave up: Policy.MaxAttempts reached"
	case Deadline:
		s = "stopped: the next backoff would end after the call's deadline"
	case Throttled:
		s = "stopped: retries throttled while most calls fail"
	case ContextDone:
		s = "stopped: the call's context ended during the backoff"
	case Unrepeatable:
		s = "stopped"
	default:
		s = "stopped: " + e.Reason.String()
	}
	if e.detail != "" {
		s += " (" + e.detail + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// deadlineDetail says how the backoff and the deadline compared.
func deadlineDetail(backoff, left time.Duration) string {
	return fmt.Sprintf("backoff %v, %v left", backoff, left.Round(time.Microsecond))
}
