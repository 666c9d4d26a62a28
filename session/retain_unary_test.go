package session

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestRetainedResponseRecycledAtRelease: a unary call's response kept as a
// lease holds its channel (and its frame) until Release, whatever calls
// run meanwhile; the channel goes back to the pool at the release, and not
// before, so that the next call finds it there.
func TestRetainedResponseRecycledAtRelease(t *testing.T) {
	mux := NewMux()
	get, err := mux.HandleUnary("test.Retain", "Get", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(bytes.Repeat(req, 512)), nil // a frame of its own, not inline
	})
	require.NoError(t, err)
	host, _ := pair(t, nil, mux)
	ctx := context.Background()

	var warm plexus.Raw
	require.NoError(t, host.Invoke(ctx, get, plexus.Raw("w"), &warm))
	require.Equal(t, 1, host.pool.nfree(), "the warm-up call's channel is in the pool")
	held := new(Lease)
	require.NoError(t, host.Invoke(ctx, get, plexus.Raw("a"), held))
	require.Zero(t, host.pool.nfree(), "a channel whose response is held is not in the pool")
	// Calls meanwhile, with copied and with leased responses, reuse one
	// other channel and other frames' memory.
	for i := range 50 {
		var resp plexus.Raw
		require.NoError(t, host.Invoke(ctx, get, plexus.Raw("b"), &resp))
		require.Equal(t, bytes.Repeat([]byte("b"), 512), []byte(resp), "call %d", i)
		l := new(Lease)
		require.NoError(t, host.Invoke(ctx, get, plexus.Raw("c"), l))
		require.Equal(t, bytes.Repeat([]byte("c"), 512), l.Bytes(), "call %d", i)
		l.Release()
		require.Equal(t, 1, host.pool.nfree(), "call %d", i)
	}
	require.Equal(t, bytes.Repeat([]byte("a"), 512), held.Bytes(), "the held response is intact")
	held.Release()
	require.Equal(t, 2, host.pool.nfree(), "released, the held call's channel is back in the pool")

	// Released before the lease is reused: the same lease and a
	// recycled channel, call after call.
	for i := range 20 {
		require.NoError(t, host.Invoke(ctx, get, plexus.Raw("d"), held))
		require.Equal(t, bytes.Repeat([]byte("d"), 512), held.Bytes(), "call %d", i)
		held.Release()
	}
}

// nfree is how many channels the pool holds.
func (p *chanPool) nfree() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}
