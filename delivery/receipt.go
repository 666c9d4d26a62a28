package delivery

import (
	"context"

	"github.com/plexus-ipc/plexus"
)

// Receipt follows one message a Sender has queued, until the receiving
// side acknowledges it or the Sender gives up on it.
type Receipt struct {
	id   string
	done chan struct{}
	err  error // set before done is closed
}

// ID returns the message's ID, as the receiving side's handler sees it
// (MessageID).
func (r *Receipt) ID() string { return r.id }

// Done is closed once the message was acknowledged or given up on.
func (r *Receipt) Done() <-chan struct{} { return r.done }

// Err returns nil while the message is pending and once it was
// acknowledged; otherwise why it was given up: the receiving side's
// answer that a resend cannot change (UNIMPLEMENTED, INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED), SenderConfig.MaxAge passed (ErrExpired), or the
// Sender closed (ErrClosed). A message given up on may have been handled
// all the same.
func (r *Receipt) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Wait waits for the message's acknowledgement within ctx: nil once
// acknowledged, Err's error if given up on, and the status of ctx if it
// ended first (the message stays pending).
func (r *Receipt) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		select {
		case <-r.done: // both ready: the outcome is known, say it
			return r.err
		default:
		}
		return plexus.WithCause(plexus.CodeOf(ctx.Err()), ctx.Err(),
			"delivery: message "+r.id+" not acknowledged yet: "+ctx.Err().Error())
	}
}
