package buslink_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
)

// TestDrainEndsSubscriptions: when the host drains a plugin's link (as
// host.Client.Close does), the plugin's subscriptions end with
// UNAVAILABLE at once, so the drain finishes without waiting for its
// deadline; what a queue member held unacknowledged goes to the member
// on another link, so nothing is lost.
func TestDrainEndsSubscriptions(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		ctx := testCtx(t)
		h := newHub(t, tk, bus.Config{})
		leaving, staying := h.link(), h.link()
		fan, err := leaving.client.Subscribe(ctx, "ev", bus.SubOptions{})
		require.NoError(t, err)
		member, err := leaving.client.Subscribe(ctx, "job", bus.SubOptions{Queue: "q"})
		require.NoError(t, err)
		other, err := staying.client.Subscribe(ctx, "job", bus.SubOptions{Queue: "q"})
		require.NoError(t, err)
		h.waitSubs(3)

		_, err = h.bus.Publish(ctx, &bus.Message{Subject: "ev", Data: []byte("e")})
		require.NoError(t, err)
		const jobs = 6
		for i := range jobs {
			_, err := h.bus.Publish(ctx, &bus.Message{Subject: "job", Data: []byte{byte(i)}})
			require.NoError(t, err)
		}
		d, err := fan.Next(ctx)
		require.NoError(t, err)
		require.NoError(t, d.Done())
		held, err := member.Next(ctx) // taken, never Done
		require.NoError(t, err)
		require.False(t, held.Redelivered)

		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, leaving.hostSide.Drain(dctx), "the subscriptions ended when the drain began")
		for _, s := range []*buslink.Subscription{fan, member} {
			select {
			case <-s.Ended():
			case <-ctx.Done():
				t.Fatal("the subscription did not end")
			}
			require.Equal(t, plexus.Unavailable, plexus.CodeOf(s.Err()), "%v", s.Err())
		}
		_, err = fan.Next(ctx)
		require.Equal(t, plexus.Unavailable, plexus.CodeOf(err))

		seen := map[byte]bool{}
		for len(seen) < jobs {
			d, err := other.Next(ctx)
			require.NoError(t, err, "after %d jobs", len(seen))
			require.False(t, seen[d.Data[0]], "job %d twice", d.Data[0])
			seen[d.Data[0]] = true
			require.NoError(t, d.Done())
		}
		require.Equal(t, plexus.FailedPrecondition, plexus.CodeOf(held.Done()), "the held job went to the other member")
	})
}
