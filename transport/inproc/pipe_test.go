package inproc_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

func pipe(t *testing.T, max int) (transport.Transport, transport.Transport) {
	a, b := inproc.Pipe(inproc.Config{MaxPayload: max})
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, pipe, transporttest.Options{ZeroAllocs: true})
}

func TestDefaults(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	defer a.Close()
	defer b.Close()
	require.Equal(t, inproc.DefaultMaxPayload, a.MaxPayload())
}

// A full queue blocks Send; closing either end releases it.
func TestFullQueueSendReleasedByClose(t *testing.T) {
	for _, closer := range []string{"self", "peer"} {
		t.Run(closer, func(t *testing.T) {
			a, b := inproc.Pipe(inproc.Config{QueueLen: 2})
			defer a.Close()
			defer b.Close()
			transporttest.Watchdog(t, 10*time.Second, a, b)
			for range 2 {
				require.NoError(t, a.Send(new(wire.Desc), []byte("x")))
			}
			errc := make(chan error, 1)
			go func() { errc <- a.Send(new(wire.Desc), []byte("blocked")) }()
			select {
			case err := <-errc:
				t.Fatalf("Send on a full queue returned %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			want := plexus.ErrLinkClosed
			if closer == "self" {
				require.NoError(t, a.Close())
			} else {
				want = plexus.ErrPeerDied
				require.NoError(t, b.Close())
			}
			select {
			case err := <-errc:
				require.ErrorIs(t, err, want)
			case <-time.After(time.Second):
				t.Fatal("Send still blocked after Close")
			}
		})
	}
}

// An Alloc'd buffer reaches the peer as is; a caller slice is copied.
func TestAllocIsHandedOver(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	defer a.Close()
	defer b.Close()
	buf, err := a.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, a.Send(new(wire.Desc), buf))
	var f transport.Frame
	require.NoError(t, b.Recv(&f))
	require.Same(t, &buf[0], &f.Payload[0])
	b.Release(&f)

	own := make([]byte, 100)
	require.NoError(t, a.Send(new(wire.Desc), own))
	require.NoError(t, b.Recv(&f))
	require.NotSame(t, &own[0], &f.Payload[0])
	b.Release(&f)
}
