package ws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/plexus-ipc/plexus"
)

// closeSlack is how much longer than CloseTimeout Close waits for the
// connection to be closed after it cut it: cutting is immediate when the
// Transport holds the network connection, and this bounds Close for one
// from New that does not.
const closeSlack = time.Second

// Close tears the link down: it sends a close frame (status 1000), waits
// up to Config.CloseTimeout for the peer's answer, and then closes the
// connection, cutting it if the peer has not answered. A blocked Recv or
// Send returns ErrLinkClosed by the time Close returns; senders waiting
// for their turn return at once. Payloads already received stay valid
// until Release. Close is idempotent and returns nil: the outcome of the
// close handshake is nothing the caller can act on.
func (t *Transport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	t.stop(websocket.StatusNormalClosure, "")
	t.waitStopped()
	return nil
}

// refuse tears down a link before it carried a frame (its subprotocol is
// wrong), telling the peer why, and waits for the teardown.
func (t *Transport) refuse(reason string) {
	t.fault.CompareAndSwap(nil, plexus.Errorf(plexus.ProtocolViolation, "ws: %s", reason))
	t.stop(websocket.StatusPolicyViolation, reason)
	t.waitStopped()
}

// waitStopped waits for the teardown to close the connection: within
// CloseTimeout plus a moment when the Transport holds the network
// connection, and no longer than CloseTimeout plus closeSlack otherwise.
func (t *Transport) waitStopped() {
	timer := time.NewTimer(t.closeTimeout + closeSlack)
	defer timer.Stop()
	select {
	case <-t.stopped:
	case <-timer.C:
	}
}

// stop starts the teardown once, whoever asks first (Close, a protocol
// violation, a write timeout): the library's close handshake, sending code
// and reason, in a goroutine of its own, cut short after CloseTimeout.
// The handshake lets the peer read why the link ended, which a browser
// shows the page as the CloseEvent's code and reason.
func (t *Transport) stop(code websocket.StatusCode, reason string) {
	t.stopOnce.Do(func() {
		close(t.stopping)
		force := time.AfterFunc(t.closeTimeout, t.cut)
		go func() {
			_ = t.c.Close(code, reason)
			force.Stop()
			t.cut()
			close(t.stopped)
		}()
	})
}

// cut ends the connection without a handshake: every read and write in
// flight fails at once.
func (t *Transport) cut() {
	t.cancel()
	if t.raw != nil {
		_ = t.raw.Close()
	}
}

// writeTimedOut runs when one write has taken longer than WriteTimeout:
// the peer has stopped reading. A close frame could not get through either,
// so the connection is cut first.
func (t *Transport) writeTimedOut() {
	st := plexus.Errorf(plexus.PeerDied, "ws: the peer took no frame for %v (WriteTimeout): it stopped reading", t.writeTimeout)
	t.fault.CompareAndSwap(nil, st)
	t.cut()
	t.stop(websocket.StatusPolicyViolation, "peer stopped reading")
}

// downError is the error of a call after teardown started.
func (t *Transport) downError() error {
	if t.closed.Load() {
		return errLinkClosed(nil)
	}
	if f := t.fault.Load(); f != nil {
		return f
	}
	return errLinkClosed(nil)
}

// ioError classifies an error from the library by who caused it: this
// side's Close, this side's teardown over a fault, or otherwise the peer
// or the network.
func (t *Transport) ioError(err error, op string) *plexus.Status {
	if t.closed.Load() {
		return errLinkClosed(err)
	}
	if f := t.fault.Load(); f != nil {
		return f
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		// In the browser the library reads whole messages and enforces
		// the limit itself, closing the connection with its own reason.
		st := plexus.WithCause(plexus.ProtocolViolation, err, fmt.Sprintf("ws: message above the %d-byte limit", t.max+64))
		t.fault.CompareAndSwap(nil, st)
		return t.fault.Load()
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		msg := fmt.Sprintf("ws: the peer closed the link (%v)", ce.Code)
		if ce.Reason != "" {
			msg = fmt.Sprintf("ws: the peer closed the link (%v: %q)", ce.Code, ce.Reason)
		}
		return plexus.WithCause(plexus.PeerDied, err, msg)
	}
	return plexus.WithCause(plexus.PeerDied, err, "ws: "+op+": "+err.Error())
}

func errLinkClosed(cause error) *plexus.Status {
	return plexus.WithCause(plexus.LinkClosed, cause, "ws: link closed")
}

// ctxStatus is the status of a wait for the write turn that ended with
// its context.
func ctxStatus(ctx context.Context) *plexus.Status {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return plexus.WithCause(plexus.DeadlineExceeded, err, "ws: deadline exceeded while waiting for other frames to be written")
	}
	return plexus.WithCause(plexus.Canceled, err, "ws: canceled while waiting for other frames to be written")
}
