package shmlink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// TestServedCallAllocs: a unary call between two sessions over a
// shared-memory pair in this process, whose handler allocates nothing,
// allocates only the handler's context in steady state, one allocation
// with a deadline as without (session/callctx.go: its Done channel and
// the cancelCtx that carries its cause are made only when asked for).
// The caller's side allocates nothing (TestZeroAllocs, plexus bench's
// allocs_per_call); a served channel reuses its queue's array from one
// call to the next.
func TestServedCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	client, _, id := answering(t, plexus.Raw("pong"))
	for _, deadline := range []bool{false, true} {
		ctx := context.Background()
		if deadline {
			// The handler's deadline is a field of its context, watched
			// by the session's one timer: no allocation of its own.
			c, cancel := context.WithTimeout(ctx, time.Hour)
			t.Cleanup(cancel)
			ctx = c
		}
		servedAllocs(t, client, id, ctx, deadline)
	}
}

func servedAllocs(t *testing.T, client *session.Session, id uint64, ctx context.Context, deadline bool) {
	var req plexus.Marshaler = plexus.Raw("ping")
	var resp plexus.Raw = make([]byte, 0, 16)
	var failed error
	call := func() {
		if err := client.Invoke(ctx, id, req, &resp); err != nil {
			failed = err
		}
	}
	for range 1000 {
		call()
	}
	allocs := testing.AllocsPerRun(2000, call)
	require.NoError(t, failed)
	require.Equal(t, "pong", string(resp))
	require.LessOrEqual(t, allocs, 1.0, "allocations per served call, both sides (deadline %v)", deadline)
}

// TestLeaseResultAllocs: a unary call whose response is received as a
// lease (a view of the peer's memory, kept past Invoke until Release), the
// lease reused from call to call, allocates no more than a copied response
// does: the call's channel goes back to the pool at the lease's release,
// and the release the lease holds is bound once per channel.
func TestLeaseResultAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	big := make([]byte, 4096) // travels in a slot: the lease is a view of it
	for i := range big {
		big[i] = byte(i)
	}
	client, h, id := answering(t, plexus.Raw(big))
	var req plexus.Marshaler = plexus.Raw("get")
	l := new(session.Lease)
	var failed error
	call := func() {
		if err := client.Invoke(context.Background(), id, req, l); err != nil {
			failed = err
			return
		}
		if b := l.Bytes(); len(b) != len(big) || b[4095] != big[4095] {
			failed = errors.New("wrong response")
		}
		l.Release()
	}
	for range 1000 {
		call()
	}
	allocs := testing.AllocsPerRun(2000, call)
	require.NoError(t, failed)
	require.LessOrEqual(t, allocs, 1.0, "allocations per call with a lease result, both sides")
	_, peer := h.Pools()
	require.Equal(t, peer.NumSlots(), peer.FreeSlots(), "every response's slot went back to the plugin")
}

// answering is a client session over a shared-memory pair in this process,
// its transport, and the method ID of the other side's one unary method,
// whose handler answers with answer (boxed once) and allocates nothing.
func answering(t *testing.T, answer plexus.Raw) (*session.Session, *Transport, uint64) {
	h, p, err := Pair(shm.Config{}, Config{})
	require.NoError(t, err)
	mux := session.NewMux()
	var m plexus.Marshaler = answer
	id, err := mux.HandleUnary("test.Allocs", "Call", func(context.Context, []byte) (plexus.Marshaler, error) {
		return m, nil
	})
	require.NoError(t, err)
	server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	t.Cleanup(func() { _ = server.Close() })
	client := session.New(h, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	t.Cleanup(func() { _ = client.Close() })
	return client, h, id
}
