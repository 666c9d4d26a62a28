package buslink_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
)

// TestLargeMessages: data above LargeData, published by the host
// (Sealed) and by a plugin (PublishLarge), reaches a fan-out subscriber,
// a queue member and the host's own subscriber whole on every transport;
// each payload is released once every delivery was Done.
func TestLargeMessages(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		ctx := testCtx(t)
		h := newHub(t, tk, bus.Config{})
		sub, pub := h.link(), h.link()
		fan, err := sub.client.Subscribe(ctx, "big.*", bus.SubOptions{Buffer: 2})
		require.NoError(t, err)
		member, err := sub.client.Subscribe(ctx, "big.*", bus.SubOptions{Queue: "q", Buffer: 2})
		require.NoError(t, err)
		local, err := h.bus.Subscribe(ctx, "big.*", bus.SubOptions{Buffer: 2})
		require.NoError(t, err)

		data := bigData(buslink.LargeData + 4097)
		m, err := buslink.Sealed(data)
		require.NoError(t, err)
		m.Subject = "big.host"
		released := make(chan struct{})
		if m.Payload != nil {
			m.Payload = releaseSignal{p: m.Payload, done: released}
		} else {
			close(released) // not sealed here: nothing to release
		}
		res, err := h.bus.Publish(ctx, m)
		require.NoError(t, err)
		require.Equal(t, 3, res.Delivered)
		res, err = pub.client.Publish(ctx, &bus.Message{Subject: "big.plugin", Data: data})
		require.NoError(t, err)
		require.Equal(t, 3, res.Delivered)

		for _, subject := range []string{"big.host", "big.plugin"} {
			for _, s := range []*buslink.Subscription{fan, member} {
				d, err := s.Next(ctx)
				require.NoError(t, err)
				require.Equal(t, subject, d.Subject)
				require.True(t, bytes.Equal(data, d.Data), "%s on %s", subject, s.Queue())
				require.NoError(t, d.Done())
				require.Error(t, d.Done(), "once")
			}
			d, err := local.Next(ctx)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, d.Data))
			require.NoError(t, d.Done())
		}
		waitClosed(t, ctx, released, "the sealed message's release")
		fan.Unsubscribe()
		member.Unsubscribe()
		h.waitSubs(1)
	})
}

// bigData is n bytes of a pattern that depends on n and on position.
func bigData(n int) []byte {
	b := make([]byte, n)
	for i := range min(n, 4096) {
		b[i] = byte(i*31 + n)
	}
	for k := 4096; k < n; k *= 2 {
		copy(b[k:], b[:k]) // not byte by byte: cheap under the race detector
		b[min(k, n-1)] ^= byte(k >> 12)
	}
	return b
}

// releaseSignal is a payload that releases p, then closes done.
type releaseSignal struct {
	p    bus.Payload
	done chan struct{}
}

func (r releaseSignal) Release() {
	r.p.Release()
	close(r.done)
}

func waitClosed(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestMixedSizesInOrder: small and large messages interleaved on one
// subject reach a fan-out subscriber and a queue member whole and in
// the order published, on every transport: a large delivery closes its
// batch and its data follows it, and the batches around it keep the
// deliveries' order and tags.
func TestMixedSizesInOrder(t *testing.T) {
	sizes := []int{8, 300, buslink.LargeData + 1, 0, 64, 5000, buslink.LargeData + 4097, buslink.LargeData + 2, 5, 4097, 5, 1 << 10}
	eachTransport(t, func(t *testing.T, tk transportKind) {
		ctx := testCtx(t)
		h := newHub(t, tk, bus.Config{})
		sub := h.link()
		fan, err := sub.client.Subscribe(ctx, "mix", bus.SubOptions{Buffer: 32})
		require.NoError(t, err)
		member, err := sub.client.Subscribe(ctx, "mix", bus.SubOptions{Queue: "q", Buffer: 32})
		require.NoError(t, err)
		want := make([][]byte, len(sizes))
		for i, n := range sizes {
			want[i] = bigData(n)
			res, err := h.bus.Publish(ctx, &bus.Message{Subject: "mix", Data: want[i]})
			require.NoError(t, err)
			require.Equal(t, 2, res.Delivered, "message %d", i)
		}
		for _, s := range []*buslink.Subscription{fan, member} {
			for i := range sizes {
				d, err := s.Next(ctx)
				require.NoError(t, err, "message %d (queue %q)", i, s.Queue())
				require.Equal(t, len(want[i]), len(d.Data), "message %d (queue %q)", i, s.Queue())
				require.True(t, bytes.Equal(want[i], d.Data), "message %d (queue %q)", i, s.Queue())
				require.NoError(t, d.Done())
			}
		}
		fan.Unsubscribe()
		member.Unsubscribe()
		h.waitSubs(0)
	})
}
