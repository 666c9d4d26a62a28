package session

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// TestLinkGrantsSentInline: over shared memory, the link credit that the
// receiving side grants back goes out from the goroutine that counted it
// (transport.TrySender), not through the control writer, whose goroutine
// would have to be woken for every grant. Each 1 MiB response passes the
// whole link window, so every call after the first needs the host's grant
// before the plugin can answer: the calls completing shows the grants
// arrived, and neither side's writer was handed one.
func TestLinkGrantsSentInline(t *testing.T) {
	a, b, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	var _ transport.TrySender = a
	blob := make([]byte, 1<<20)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	mux := NewMux()
	get, err := mux.HandleUnary("test.Grant", "Get", func(context.Context, []byte) (plexus.Marshaler, error) {
		return plexus.Raw(blob), nil
	})
	require.NoError(t, err)
	put, err := mux.HandleUnary("test.Grant", "Put", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw{byte(len(req) >> 20)}, nil
	})
	require.NoError(t, err)
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	host := New(a, Config{Role: Initiator, Logger: log.Named("host")})
	plugin := New(b, Config{Role: Acceptor, Mux: mux, Logger: log.Named("plugin")})
	t.Cleanup(func() { _ = host.Close(); _ = plugin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	hostPushes, pluginPushes := host.ctl.pushes.Load(), plugin.ctl.pushes.Load()
	const calls = 20
	for i := range calls {
		var resp plexus.Raw
		require.NoError(t, host.Invoke(ctx, get, plexus.Raw(nil), &resp), "get %d", i)
		require.Equal(t, blob, []byte(resp), "get %d", i)
		require.NoError(t, host.Invoke(ctx, put, plexus.Raw(blob), &resp), "put %d", i)
		require.Equal(t, plexus.Raw{1}, resp, "put %d", i)
	}
	require.Equal(t, hostPushes, host.ctl.pushes.Load(), "the host granted the plugin's window back without its writer")
	require.Equal(t, pluginPushes, plugin.ctl.pushes.Load(), "and the plugin the host's")
}
