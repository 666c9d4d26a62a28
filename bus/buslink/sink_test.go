package buslink_test

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/bus"
)

// TestSinkOrderRemote: two publishers on the host's bus, messages whose
// sizes take the sink's way (small), the buffer's (over 4 KiB) and the
// large way (over LargeData) in turn, to a fan-out subscriber whose
// Buffer is small enough that Block holds the publishers: every message
// arrives once, whole, in each publisher's order, on every transport.
// The pump sends the sink's batches and the buffer's in the order the
// bus took them (bus.Subscription.SetSink).
func TestSinkOrderRemote(t *testing.T) {
	const perPub = 3000
	sizes := []int{16, 64, 5000, 300, 4097, 8, 0, 1 << 10}
	eachTransport(t, func(t *testing.T, tk transportKind) {
		ctx := testCtx(t)
		h := newHub(t, tk, bus.Config{})
		sub := h.link()
		s, err := sub.client.Subscribe(ctx, "order", bus.SubOptions{Buffer: 16, Overflow: bus.Block})
		require.NoError(t, err)
		n := perPub
		if raceEnabled {
			n = perPub / 3
		}
		// Message i of publisher p: 8 bytes of p<<32|i, then its size's
		// worth of the same byte, p+i.
		msg := func(p, i int) []byte {
			b := make([]byte, 8+sizes[i%len(sizes)])
			binary.LittleEndian.PutUint64(b, uint64(p)<<32|uint64(i))
			for j := 8; j < len(b); j++ {
				b[j] = byte(p + i)
			}
			return b
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for p := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if _, err := h.bus.Publish(ctx, &bus.Message{Subject: "order", Data: msg(p, i)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		next := [2]int{}
		for got := 0; got < 2*n; got++ {
			d, err := s.Next(ctx)
			require.NoError(t, err, "after %d", got)
			require.GreaterOrEqual(t, len(d.Data), 8)
			v := binary.LittleEndian.Uint64(d.Data)
			p, i := int(v>>32), int(uint32(v))
			require.Less(t, p, 2)
			require.Equal(t, next[p], i, "publisher %d's messages in order", p)
			require.Equal(t, msg(p, i), d.Data, "publisher %d's message %d whole", p, i)
			next[p]++
			require.NoError(t, d.Done())
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		s.Unsubscribe()
		h.waitSubs(0)
	})
}
