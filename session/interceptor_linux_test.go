package session

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// TestInterceptorsOverSharedMemory: the chain and the byte counts over the
// shared-memory transport, where a caller receives its own response
// (pollReceiver).
func TestInterceptorsOverSharedMemory(t *testing.T) {
	a, b, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	ev := newEvents()
	caller, server := chains(ev)
	c := icptPair(t, a, b, icptMux(t, nil, nil), caller, server)
	for range 100 {
		var resp plexus.Raw
		require.NoError(t, c.Invoke(context.Background(), plexus.MethodID("test.Icpt", "Echo"), plexus.Raw("hi"), &resp))
		require.Equal(t, "hi|a=1 b=1|a b", string(resp))
	}
	se := waitEnded(t, ev, Serving)
	ce, _ := ev.ended("a", Calling)
	require.Equal(t, ce.Sent, se.Received)
	require.Equal(t, se.Sent, ce.Received)
	require.Len(t, ev.lines(Calling), 400)
}
