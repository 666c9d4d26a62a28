//go:build js

package ws_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/transport/ws"
	"github.com/plexus-ipc/plexus/wire"
)

// TestBrowserClient is the WebAssembly half of TestWasmClient
// (wasm_test.go), which runs this test binary under Node.js: it dials the
// echo server named by PLEXUS_WS_TEST_URL through the JavaScript
// WebSocket, makes round trips with payloads across the copy threshold,
// checks that an oversize Send is refused before it reaches the wire, and
// closes. Without the variable there is no server, and it skips.
func TestBrowserClient(t *testing.T) {
	url := os.Getenv("PLEXUS_WS_TEST_URL")
	if url == "" {
		t.Skip("PLEXUS_WS_TEST_URL is not set: TestWasmClient runs this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, err := ws.Dial(ctx, url, ws.DialConfig{Config: ws.Config{MaxPayload: 1 << 20}})
	require.NoError(t, err)
	transporttest.Watchdog(t, 60*time.Second, tr)
	for i, n := range []int{0, 1, wire.InlineMax + 1, 16 << 10, 16<<10 + 1, 300 << 10, 1 << 20} {
		want := transporttest.Pattern(n, uint64(i))
		var d wire.Desc
		d.SetChannel(uint64(i + 1))
		d.SetAux(uint64(n))
		require.NoError(t, tr.Send(&d, want))
		var f transport.Frame
		require.NoError(t, tr.Recv(&f))
		require.Equal(t, uint64(i+1), f.Desc.Channel())
		require.Equal(t, uint64(n), f.Desc.Aux())
		require.Equal(t, n, len(f.Payload))
		require.True(t, bytes.Equal(want, f.Payload), "payload of %d bytes differs", n)
		tr.Release(&f)
	}
	require.ErrorIs(t, tr.Send(new(wire.Desc), make([]byte, 1<<20+1)), plexus.ErrResourceExhausted)
	require.NoError(t, tr.Close())
	var f transport.Frame
	require.ErrorIs(t, tr.Recv(&f), plexus.ErrLinkClosed)
}
