package plexus

import (
	"context"
	"sync"
	"sync/atomic"
)

// Views is a scope in which the []byte results of generated clients'
// unary calls are views of the received bytes instead of copies: in
// shared memory, the peer's slot or blob itself. A result of 1 MiB then
// costs no allocation and no copy; the bytes stay valid, and the peer's
// memory they live in stays taken, until the scope is released.
//
// Lifetime: make one with WithViews, pass its context to the calls, use
// their []byte results, then call the release function WithViews
// returned, once; after it, those results must not be read (the memory
// goes back to the peer, which reuses it). Calls made with the context
// after release copy their results as usual. Release must not run while
// calls made with the context are in flight.
//
// Concurrency: calls may use one scope from any number of goroutines at
// once; release may be called from any goroutine.
type Views struct {
	mu       sync.Mutex
	held     []func()
	released bool
}

type viewsKey struct{}

// viewsMade is set by the first WithViews: until then no context can
// carry a scope, and ViewsFrom does not walk the context's chain of
// values, which every call of a method with []byte results would pay for.
var viewsMade atomic.Bool

// WithViews returns a context carrying a new scope of views, and the
// function that releases every result received in it (see Views).
func WithViews(ctx context.Context) (context.Context, func()) {
	viewsMade.Store(true)
	v := new(Views)
	return context.WithValue(ctx, viewsKey{}, v), v.release
}

// ViewsFrom returns the scope ctx carries if it has not been released,
// else nil. Generated clients ask it before a call that has []byte
// results.
func ViewsFrom(ctx context.Context) *Views {
	if !viewsMade.Load() {
		return nil
	}
	return viewsOf(ctx)
}

// viewsOf is ViewsFrom's look into ctx.
func viewsOf(ctx context.Context) *Views {
	v, _ := ctx.Value(viewsKey{}).(*Views)
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.released {
		return nil
	}
	return v
}

// Keep takes the release of a received payload whose bytes a result
// views, to run it when the scope is released. A payload kept after that
// (a call racing its scope's release, which Views forbids) is released at
// once.
func (v *Views) Keep(release func()) {
	v.mu.Lock()
	if !v.released {
		v.held = append(v.held, release)
		v.mu.Unlock()
		return
	}
	v.mu.Unlock()
	release()
}

// release gives back every payload kept, once.
func (v *Views) release() {
	v.mu.Lock()
	held := v.held
	v.held, v.released = nil, true
	v.mu.Unlock()
	for _, r := range held {
		r()
	}
}
