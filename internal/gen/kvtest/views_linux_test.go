package kvtest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
	"github.com/stretchr/testify/require"
)

// shmLink serves impl over a shared-memory pair in this process and
// returns a client and the caller's transport.
func shmLink(t *testing.T, impl Store) (*StoreClient, *shmlink.Transport) {
	h, p, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	mux := session.NewMux()
	require.NoError(t, RegisterStore(mux, impl))
	srv := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	cl := session.New(h, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	t.Cleanup(func() { cl.Close(); srv.Close() })
	return NewStoreClient(cl), h
}

// freeWithin waits (bounded) for the pool to show want free slots: the
// server frees its own slots as the caller's releases reach it.
func freeWithin(t *testing.T, pool *shm.Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pool.FreeSlots() != want {
		require.True(t, time.Now().Before(deadline), "the pool has %d free slots, want %d", pool.FreeSlots(), want)
		time.Sleep(time.Millisecond)
	}
}

// TestResultViews: with plexus.WithViews a []byte result is a view of
// the server's slot itself, which stays taken until the scope is
// released; without it the result is a copy and the slot is free once
// the call returns.
func TestResultViews(t *testing.T) {
	value := bytes.Repeat([]byte("0123456789abcdef"), 2<<10) // 32 KiB: a 64 KiB slot, not inline
	c, tr := shmLink(t, &memStore{data: map[string][]byte{"k": value}})
	_, peerPool := tr.Pools()
	idle := peerPool.FreeSlots()
	ctx := context.Background()

	got, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, value, got)
	_, _, _, inPool := peerPool.SlotAt(got)
	require.False(t, inPool, "without a scope the result is a copy")
	freeWithin(t, peerPool, idle)

	vctx, release := plexus.WithViews(ctx)
	views := make([][]byte, 3)
	for i := range views {
		views[i], err = c.Get(vctx, "k")
		require.NoError(t, err)
		require.Equal(t, value, views[i])
		_, _, _, inPool = peerPool.SlotAt(views[i])
		require.True(t, inPool, "with a scope the result is a view of the server's slot")
	}
	require.Equal(t, idle-len(views), peerPool.FreeSlots(), "the scope holds the slots")
	release()
	freeWithin(t, peerPool, idle)

	got, err = c.Get(vctx, "k")
	require.NoError(t, err)
	_, _, _, inPool = peerPool.SlotAt(got)
	require.False(t, inPool, "a released scope copies")
	require.Equal(t, value, got)
}

// TestResultViewsFailedCall: a call in a scope that fails holds nothing.
func TestResultViewsFailedCall(t *testing.T) {
	c, tr := shmLink(t, &memStore{data: map[string][]byte{}})
	_, peerPool := tr.Pools()
	idle := peerPool.FreeSlots()
	vctx, release := plexus.WithViews(context.Background())
	defer release()
	_, err := c.Get(vctx, "missing")
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	freeWithin(t, peerPool, idle)
}
