package host

import (
	"context"
	"sync"

	"github.com/plexus-ipc/plexus"
)

// BroadcastResult is one member's outcome of Pool.Broadcast.
type BroadcastResult struct {
	Member int     // the member's index in Pool.Members
	Client *Client // the member
	Err    error   // the call's error, nil if it succeeded
}

// Broadcast makes the unary call on every member of the pool at once and
// returns one result per member, in member order, when every call has
// ended. resp, if not nil, gives the response of member i its own
// destination (nil discards it). A member that is down gets no retry on
// another: its result is the error.
//
// req is encoded once per member: it must be safe to encode concurrently
// (a value, plexus.Raw; not a Lease, which is spent by one send). A large
// request crosses to every member without a copy of its own when it is a
// plexus.Raw of bytes the transport sends by reference (see
// session.Session.Seal): it is written once for the whole pool.
func (p *Pool) Broadcast(ctx context.Context, method uint64, req plexus.Marshaler, resp func(member int) plexus.Unmarshaler) []BroadcastResult {
	out := make([]BroadcastResult, len(p.members))
	var wg sync.WaitGroup
	for i, m := range p.members {
		out[i] = BroadcastResult{Member: i, Client: m.c}
		var dst plexus.Unmarshaler
		if resp != nil {
			dst = resp(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.inflight.Add(1)
			defer m.inflight.Add(-1)
			out[i].Err = m.c.Invoke(ctx, method, req, dst)
		}()
	}
	wg.Wait()
	return out
}
