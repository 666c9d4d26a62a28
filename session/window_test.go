package session

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestRecvWindow: a stream opened with WithRecvWindow lets its peer send
// that much before the caller reads anything (the peer's handler gets
// the extra credit with the OPEN and is not refused for using it), and
// no more; without it the peer stops at the session's window.
func TestRecvWindow(t *testing.T) {
	const msg, total = 8 << 10, 40 // 320 KiB in all
	mux := NewMux()
	var sent atomic.Int64
	flood, err := mux.HandleStream("test.Window", "Flood", func(ctx context.Context, st *Stream) error {
		for range total {
			if err := st.Send(plexus.Raw(make([]byte, msg))); err != nil {
				return err
			}
			sent.Add(1)
		}
		return nil
	})
	require.NoError(t, err)
	for _, window := range []int{0, 256 << 10} {
		sent.Store(0)
		_, plugin := pair(t, mux, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if window > 0 {
			ctx = WithRecvWindow(ctx, window)
		}
		st, err := plugin.NewStream(ctx, flood, plexus.Raw{}, true)
		require.NoError(t, err)
		// Until the handler stops for credit: no progress for 200 ms.
		n, since := sent.Load(), time.Now()
		for time.Since(since) < 200*time.Millisecond && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			if m := sent.Load(); m != n {
				n, since = m, time.Now()
			}
		}
		held := int64(max(window, DefaultChannelWindow) / msg)
		require.LessOrEqual(t, n, held, "window %d: no more than it holds", window)
		require.GreaterOrEqual(t, n, held-2, "window %d: what it holds, before any read", window)
		for i := range total {
			require.NoError(t, st.Recv(nil), "window %d, message %d", window, i)
		}
		require.Equal(t, io.EOF, st.Recv(nil), "window %d", window)
		cancel()
	}
}
