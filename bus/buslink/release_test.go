package buslink_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// gatedRelease is a transport whose Release of a frame larger than
// LargeData waits until gate is closed, as an unmapping and freeing of
// a large memfd takes a while on shared memory.
type gatedRelease struct {
	transport.Transport
	gate     chan struct{}
	once     sync.Once
	released atomic.Int32 // large frames released
}

func (g *gatedRelease) Release(f *transport.Frame) {
	if len(f.Payload) > buslink.LargeData {
		<-g.gate
		g.released.Add(1)
	}
	g.Transport.Release(f)
}

func (g *gatedRelease) open() { g.once.Do(func() { close(g.gate) }) }

// TestDoneReleasesLater: Done on a large delivery returns while the
// release of its frame is still under way (the subscriber's transport
// holds it), and the frame is released, giving back the stream's window
// for the next large delivery, once the transport lets it go. (Done used
// to release the frame itself: the consumer waited for the unmapping and
// freeing of a shared-memory frame before it could go on.)
func TestDoneReleasesLater(t *testing.T) {
	ctx := testCtx(t)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	mux := session.NewMux()
	require.NoError(t, buslink.Register(mux, b))
	ht, pt := inproc.Pipe(inproc.Config{})
	g := &gatedRelease{Transport: pt, gate: make(chan struct{})}
	hs := session.New(ht, session.Config{Role: session.Initiator, Mux: mux, KeepaliveIdle: -1})
	ps := session.New(g, session.Config{Role: session.Acceptor, KeepaliveIdle: -1})
	t.Cleanup(func() {
		_ = ps.Close()
		_ = hs.Close()
	})
	t.Cleanup(g.open) // first: no release left stuck at the gate when the sessions close
	s, err := buslink.NewClient(ps).Subscribe(ctx, "big", bus.SubOptions{Buffer: 2})
	require.NoError(t, err)
	data := bigData(buslink.LargeData + 1)
	for range 2 {
		_, err := b.Publish(ctx, &bus.Message{Subject: "big", Data: data})
		require.NoError(t, err)
	}

	d, err := s.Next(ctx)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, d.Data))
	done := make(chan error, 1)
	go func() { done <- d.Done() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Done waited for the release of the delivery's frame")
	}
	require.Zero(t, g.released.Load(), "the release waits at the gate")

	g.open()
	eventually(t, "the frame's release", func() bool { return g.released.Load() == 1 })
	d, err = s.Next(ctx) // its window came back with the release
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, d.Data))
	require.NoError(t, d.Done())
	eventually(t, "the second frame's release", func() bool { return g.released.Load() == 2 })
	s.Unsubscribe()
}
