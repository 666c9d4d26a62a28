package session

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/plexus-ipc/plexus"
)

// IdempotencyKey is the metadata key that carries a logical call's
// idempotency key: set by a retry policy (package retry) on every attempt
// of a call to a method described as idempotent, the same on each, so
// that the serving side's IdempotencyCache answers a repeat with the
// first attempt's result instead of running the handler again.
const IdempotencyKey = "plexus-idempotency-key"

// maxIdempotencyKey bounds a key's length: the peer writes it, and this
// side keeps it.
const maxIdempotencyKey = 128

// IdempotencyLimits bound an IdempotencyCache; zero fields take the
// defaults.
type IdempotencyLimits struct {
	// MaxEntries bounds the results kept (default 4096), MaxBytes their
	// encoded responses' bytes (default 16 MiB), MaxAge how long one is
	// kept (default 10 minutes): a retry comes within seconds, and a key
	// reused later than that is taken as a new call.
	MaxEntries int
	MaxBytes   int64
	MaxAge     time.Duration
}

// IdempotencyCache keeps the recent results of idempotent methods by
// idempotency key, on the serving side (Config.Idempotency): a call to a
// method whose Mux description says Idempotent (generated code's, from
// //plexus:idempotent) that carries a key (IdempotencyKey) is answered
// from the cache when that key was seen, with the first call's response
// or application error, and its handler does not run again; a repeat that
// arrives while the first still runs waits for it. Results that say the
// call did not finish (CANCELED, DEADLINE_EXCEEDED, UNAVAILABLE,
// RESOURCE_EXHAUSTED, PEER_DIED, LINK_CLOSED, INTERNAL, UNKNOWN) are not
// kept: a repeat runs the handler. Oldest results go first when a bound
// is reached.
//
// One cache may serve many sessions (a plugin's links over its lifetime,
// a host's plugins): it belongs to whoever made it, and is safe for
// concurrent use. It lives in this process's memory: a plugin process
// that dies takes its cache with it, and the retry of a call it ran then
// runs again on its successor (DESIGN.md "Delivery guarantees").
type IdempotencyCache struct {
	lim IdempotencyLimits

	mu      sync.Mutex
	entries map[idemKey]*idemEntry
	order   list.List // of *idemEntry, oldest first
	bytes   int64
}

type idemKey struct {
	method uint64
	key    string
}

// idemEntry is one key's result: pending until done is closed.
type idemEntry struct {
	k    idemKey
	done chan struct{}
	resp []byte         // the encoded response message, when st is nil
	st   *plexus.Status // the application error
	at   time.Time
	elem *list.Element // in order, once finished
	kept bool          // finished and kept; false: dropped, a waiter runs the call itself
}

// NewIdempotencyCache returns an empty cache with the limits l.
func NewIdempotencyCache(l IdempotencyLimits) *IdempotencyCache {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 4096
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.MaxAge <= 0 {
		l.MaxAge = 10 * time.Minute
	}
	return &IdempotencyCache{lim: l, entries: map[idemKey]*idemEntry{}}
}

// Len returns how many results the cache holds (pending calls included).
func (c *IdempotencyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// begin looks k up: a finished result to answer with (first false, e
// done), one pending (first false: wait on e.done), or none, in which case
// a pending entry is made for the caller to finish (first true).
func (c *IdempotencyCache) begin(k idemKey, now time.Time) (e *idemEntry, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if e := c.entries[k]; e != nil {
		return e, false
	}
	e = &idemEntry{k: k, done: make(chan struct{}), at: now}
	c.entries[k] = e
	return e, true
}

// finish records the result of e's call and wakes its waiters; a result
// that says the call did not finish is dropped instead.
func (c *IdempotencyCache) finish(e *idemEntry, resp []byte, st *plexus.Status, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(e.done)
	if st != nil && transient(st.Code) || int64(len(resp)) > c.lim.MaxBytes {
		delete(c.entries, e.k)
		return
	}
	e.resp, e.st, e.at, e.kept = resp, st, now, true
	e.elem = c.order.PushBack(e)
	c.bytes += int64(len(resp))
	for c.order.Len() > c.lim.MaxEntries || c.bytes > c.lim.MaxBytes {
		c.dropLocked(c.order.Front().Value.(*idemEntry))
	}
}

// expireLocked drops the finished results older than MaxAge.
func (c *IdempotencyCache) expireLocked(now time.Time) {
	for f := c.order.Front(); f != nil; f = c.order.Front() {
		e := f.Value.(*idemEntry)
		if now.Sub(e.at) < c.lim.MaxAge {
			return
		}
		c.dropLocked(e)
	}
}

func (c *IdempotencyCache) dropLocked(e *idemEntry) {
	c.order.Remove(e.elem)
	c.bytes -= int64(len(e.resp))
	delete(c.entries, e.k)
}

// transient reports the codes of results that say the call did not
// finish, which a repeat must not be answered with.
func transient(c plexus.Code) bool {
	switch c {
	case plexus.Canceled, plexus.DeadlineExceeded, plexus.Unavailable, plexus.ResourceExhausted,
		plexus.PeerDied, plexus.LinkClosed, plexus.Internal, plexus.Unknown:
		return true
	}
	return false
}

// cachedUnary runs a unary handler through the cache: the result of an
// earlier call with the same key, or the handler's, recorded. The
// response comes back encoded (plexus.Raw), as the cache keeps it.
func (c *IdempotencyCache) cachedUnary(ctx context.Context, method uint64, key string, h UnaryHandler, req []byte) (plexus.Marshaler, error) {
	k := idemKey{method, key}
	for range 3 { // a dropped pending result lets a waiter run the call; bounded all the same
		e, first := c.begin(k, time.Now())
		if first {
			return c.run(ctx, e, h, req)
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctxStatus(ctx)
		}
		if e.kept {
			if e.st != nil {
				return nil, e.st
			}
			return plexus.Raw(e.resp), nil
		}
	}
	return h(ctx, req)
}

// run runs the first call of a key and records its result.
func (c *IdempotencyCache) run(ctx context.Context, e *idemEntry, h UnaryHandler, req []byte) (resp plexus.Marshaler, err error) {
	recorded := false
	defer func() {
		if !recorded { // the handler panicked: no result, and a repeat runs it again
			c.finish(e, nil, plexus.Errorf(plexus.Internal, "handler panicked"), time.Now())
		}
	}()
	resp, err = h(ctx, req)
	if err != nil {
		st := statusFromError(err)
		c.finish(e, nil, st, time.Now())
		recorded = true
		return nil, err
	}
	var b []byte
	if resp != nil {
		if b, err = resp.MarshalMsg(make([]byte, 0, resp.Msgsize())); err != nil {
			st := plexus.WithCause(plexus.Internal, err, "encoding message: "+err.Error())
			c.finish(e, nil, st, time.Now())
			recorded = true
			return nil, st
		}
	}
	c.finish(e, b, nil, time.Now())
	recorded = true
	return plexus.Raw(b), nil
}

// idempotencyKeyOf returns the call's idempotency key, "" if it has none
// or one too long to keep. It is asked only for a method described
// idempotent on a session with a cache: other calls pay two loads.
func idempotencyKeyOf(ctx context.Context) string {
	key := plexus.IncomingMetadata(ctx)[IdempotencyKey]
	if len(key) > maxIdempotencyKey {
		return "" // not one of ours: served, not cached
	}
	return key
}
