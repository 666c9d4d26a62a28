package delivery_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
	"github.com/plexus-ipc/plexus/host"
)

// BenchmarkNotifications: notifications of 64 bytes per second to a
// plugin process over shared memory, counted once handled there: plain
// ones (Notify, no acknowledgement) and acknowledged ones (a Sender with
// the default 1,024 pending), in the same run against the same plugin.
func BenchmarkNotifications(b *testing.B) {
	c := startPlugin(b, "bench")
	payload := plexus.Raw(make([]byte, 64))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	b.Run("plain", func(b *testing.B) {
		before := handledCount(b, c)
		t0 := time.Now()
		for range b.N {
			if err := c.Notify(ctx, noteID, payload); err != nil {
				b.Fatal(err)
			}
		}
		// Handled, not only sent: the plugin's count reaches them all.
		deadline := time.Now().Add(time.Minute)
		for handledCount(b, c) < before+uint64(b.N) {
			if time.Now().After(deadline) {
				b.Fatal("the plugin did not handle every notification within a minute")
			}
			time.Sleep(100 * time.Microsecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "msgs/s")
	})

	b.Run("acknowledged", func(b *testing.B) {
		s := delivery.NewSender(c, delivery.SenderConfig{})
		t0 := time.Now()
		for range b.N {
			if _, err := s.Send(ctx, noteID, payload); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, s.Close(ctx)) // returns once every message is acknowledged
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "msgs/s")
		require.Equal(b, uint64(b.N), s.Stats().Acked)
	})
}

// handledCount asks the plugin how many notifications it handled.
func handledCount(b *testing.B, c *host.Client) uint64 {
	var resp plexus.Raw
	require.NoError(b, c.Invoke(context.Background(), countID, plexus.Raw(nil), &resp))
	require.Len(b, resp, 8)
	return binary.LittleEndian.Uint64(resp)
}
