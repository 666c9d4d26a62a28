package delivery

import (
	"context"
	"sync"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/genrt"
	"github.com/plexus-ipc/plexus/session"
)

// ReceiverConfig configures the receiving side of acknowledged delivery.
type ReceiverConfig struct {
	// Window bounds the default Store's window of recent message IDs;
	// unused when Store is set.
	Window WindowConfig
	// Store remembers the handled messages' IDs; nil: a MemoryStore
	// bounded by Window.
	Store Store
}

// Service returns the receiving side as a service, for a plugin's service
// list (plugin.ServeConfig.Versions) beside the services whose
// notifications it receives. Every Mux it is registered on shares one
// receiver: one Store, and one set of messages being handled, so that a
// host that links again (to a plugin serving attached hosts) finds the
// IDs of what it sent before.
func Service(cfg ReceiverConfig) genrt.Service {
	r := newReceiver(cfg)
	return genrt.Generated(ServiceDesc, r.register)
}

// Register adds the receiving side to mux (a host's
// host.Config.HostServices, for a plugin's acknowledged notifications to
// the host, or the Mux of any session) and describes it there. Like all
// registration, it must come before the session that serves mux starts;
// the notifications it delivers are looked up on mux when they arrive,
// so they may be registered before or after it.
func Register(mux *session.Mux, cfg ReceiverConfig) error {
	if err := newReceiver(cfg).register(mux); err != nil {
		return err
	}
	return mux.Describe(ServiceDesc)
}

// receiver handles Deliver calls: it runs each new message's notification
// handler, and acknowledges a message it has handled already without
// running it again.
type receiver struct {
	mu      sync.Mutex
	store   Store                // under mu: a Store's methods are called one at a time
	running map[string]*handling // messages whose handler runs now, by ID
}

// handling is a message whose handler runs; done is closed when it has
// returned (or panicked), its ID recorded if it returned.
type handling struct {
	done chan struct{}
}

func newReceiver(cfg ReceiverConfig) *receiver {
	st := cfg.Store
	if st == nil {
		st = NewMemoryStore(cfg.Window)
	}
	return &receiver{store: st, running: map[string]*handling{}}
}

// register adds Deliver to mux, bound to mux: the handler looks the
// notifications up on the Mux its call arrived through.
func (r *receiver) register(mux *session.Mux) error {
	_, err := mux.HandleUnary(ServiceName, "Deliver", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return r.deliver(ctx, mux, req)
	})
	return err
}

// ack is Deliver's response: empty, its arrival is what says the message
// was handled.
var ack = plexus.Raw(nil)

// deliver serves one Deliver call: msg is the notification's message,
// valid until it returns (as for a notification handler).
func (r *receiver) deliver(ctx context.Context, mux *session.Mux, msg []byte) (plexus.Marshaler, error) {
	id, method, err := parseHeader(plexus.IncomingMetadata(ctx))
	if err != nil {
		return nil, err
	}
	h, _, ok := mux.Notification(method)
	if !ok {
		return nil, plexus.Errorf(plexus.Unimplemented,
			"delivery: message %s is for method %#x, which is not a notification this side serves", id, method)
	}
	// Each turn either returns or waits for a handler to finish: a
	// message whose first handling panicked (and was not recorded) is
	// handled by the next of its resends.
	for {
		r.mu.Lock()
		if r.store.Seen(id) {
			r.mu.Unlock()
			return ack, nil
		}
		if cur := r.running[id]; cur != nil {
			r.mu.Unlock()
			select {
			case <-cur.done:
				continue
			case <-ctx.Done():
				// The sender stopped waiting for this attempt; the
				// first one's acknowledgement, or a later resend's,
				// will do.
				return nil, plexus.Errorf(plexus.CodeOf(ctx.Err()),
					"delivery: message %s: gave up waiting for its handling in progress: %v", id, ctx.Err())
			}
		}
		cur := &handling{done: make(chan struct{})}
		r.running[id] = cur
		r.mu.Unlock()
		r.handle(ctx, id, h, msg, cur)
		return ack, nil
	}
}

// handle runs the handler for message id, then records the ID and wakes
// the resends that wait for it. A panic is not recorded (the message was
// not handled) and goes on to the session, which answers INTERNAL, logs
// it, and survives; the sender resends.
//
// The handler's context keeps the call's values (its metadata, an
// interceptor's span) but not its deadline or cancellation: a handler
// that returns is taken as having handled the message, so it must not be
// cut short because the sender stopped waiting for one attempt, nor by
// the link's end, after which its effect would be recorded all the same.
func (r *receiver) handle(ctx context.Context, id string, h session.NotifyHandler, msg []byte, cur *handling) {
	handled := false
	defer func() {
		r.mu.Lock()
		if handled {
			r.store.Record(id)
		}
		delete(r.running, id)
		r.mu.Unlock()
		close(cur.done)
	}()
	h(context.WithValue(context.WithoutCancel(ctx), idKey{}, id), msg)
	handled = true
}

type idKey struct{}

// MessageID returns the ID of the acknowledged notification a handler
// handles, or "" if ctx is not a handler's of one (a plain notification).
// A handler that records its effect durably records the ID with it, for
// a Store that must survive the process (see the package comment).
func MessageID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}
