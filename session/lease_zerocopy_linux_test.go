package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// TestLeaseSingleSendZeroCopy: over shared memory a lease sent once still
// crosses without a copy (the handler's view lies in the very slot the
// caller filled), the refusal of a second send leaves that slot alone,
// and every slot is free again at the end: the checks that refuse a spent
// lease cost the single send nothing and leak nothing.
func TestLeaseSingleSendZeroCopy(t *testing.T) {
	a, b, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	hostOwn, _ := a.Pools()
	_, pluginPeer := b.Pools() // the host's pool, as the plugin maps it

	type seen struct {
		slot uint32
		ok   bool
		text string
	}
	var mu sync.Mutex
	var got []seen
	mux := NewMux()
	put, err := mux.HandleUnary("test.Sink", "Put", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		idx, _, _, ok := pluginPeer.SlotAt(req)
		mu.Lock()
		got = append(got, seen{idx, ok, string(req[:7])})
		mu.Unlock()
		return plexus.Raw("ok"), nil
	})
	require.NoError(t, err)
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	host := New(a, Config{Role: Initiator, Logger: log.Named("host")})
	plugin := New(b, Config{Role: Acceptor, Mux: mux, Logger: log.Named("plugin")})
	t.Cleanup(func() { _ = host.Close(); _ = plugin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Above the descriptor's inline bytes, so that the lease travels in
	// its slot rather than copied into the descriptor.
	const n = 4096
	l, err := host.Alloc(n)
	require.NoError(t, err)
	copy(l.Bytes(), "payload")
	slot, _, _, ok := hostOwn.SlotAt(l.Bytes())
	require.True(t, ok, "the lease is a slot of the host's pool")

	var resp plexus.Raw
	require.NoError(t, host.Invoke(ctx, put, l, &resp))
	require.Equal(t, "ok", string(resp))
	requireLeaseRefused(t, host.Invoke(ctx, put, l, &resp), ErrLeaseSent, "lease already sent")
	l.Release()

	mu.Lock()
	require.Equal(t, []seen{{slot, true, "payload"}}, got, "one call, whose request is the caller's slot itself")
	mu.Unlock()

	// The plugin frees the request's slot once its response is out, so
	// the last one comes back shortly after the call returns.
	deadline := time.Now().Add(10 * time.Second)
	for hostOwn.FreeSlots() != hostOwn.NumSlots() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, hostOwn.NumSlots(), hostOwn.FreeSlots(), "every slot of the host's pool is free again")
}
