package session

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// countingTransport counts the frames a session received and released.
type countingTransport struct {
	transport.Transport
	recvd, released atomic.Int64
}

func (c *countingTransport) Recv(f *transport.Frame) error {
	err := c.Transport.Recv(f)
	if err == nil {
		c.recvd.Add(1)
	}
	return err
}

func (c *countingTransport) Release(f *transport.Frame) {
	c.released.Add(1)
	c.Transport.Release(f)
}

// TestPackedFramesReleased: a handler that keeps some messages of packed
// frames as leases (views into the frames) and returns in the middle of a
// frame, with messages still queued behind it, releases every frame once
// the leases are released, in whatever order; a caller that closes its
// stream in the middle of a packed frame, from another goroutine while it
// holds leases, does too.
func TestPackedFramesReleased(t *testing.T) {
	const rounds, msgs, keep = 20, 600, 250 // 600 messages of 64 bytes: 3 packed frames
	var held []*Lease
	var heldMu sync.Mutex
	mux := NewMux()
	hold, err := mux.HandleStream("test.Cursor", "Hold", func(ctx context.Context, st *Stream) error {
		for i := range keep {
			l := new(Lease)
			if err := st.Recv(l); err != nil {
				return err
			}
			require.Len(t, l.Bytes(), 64, "message %d", i)
			if i%3 == 0 {
				heldMu.Lock()
				held = append(held, l)
				heldMu.Unlock()
			} else {
				l.Release()
			}
		}
		return nil // in the middle of the second frame, the third queued
	})
	require.NoError(t, err)
	echo, err := mux.HandleStream("test.Cursor", "Echo", func(ctx context.Context, st *Stream) error {
		require.NoError(t, st.Buffer(true))
		for i := range msgs {
			if err := st.Send(plexus.Raw(make([]byte, 64))); err != nil {
				return err
			}
			_ = i
		}
		return nil
	})
	require.NoError(t, err)

	a, b := inproc.Pipe(inproc.Config{})
	ca, cb := &countingTransport{Transport: a}, &countingTransport{Transport: b}
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	host := New(ca, Config{Role: Initiator, Logger: log.Named("host")})
	plugin := New(cb, Config{Role: Acceptor, Mux: mux, Logger: log.Named("plugin")})
	t.Cleanup(func() { host.Close(); plugin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	settled := func(c *countingTransport) bool { return c.recvd.Load() == c.released.Load() }
	for r := range rounds {
		st, err := host.NewStream(ctx, hold, nil, false)
		require.NoError(t, err)
		require.NoError(t, st.Buffer(true))
		for range msgs {
			if err := st.Send(plexus.Raw(make([]byte, 64))); err != nil {
				require.ErrorIs(t, err, io.EOF) // the handler may have returned already
				break
			}
		}
		require.NoError(t, st.Flush())
		var m plexus.Raw
		require.ErrorIs(t, st.Recv(&m), io.EOF, "round %d", r)
		heldMu.Lock()
		require.NotEmpty(t, held)
		rand.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
		for _, l := range held {
			l.Release()
		}
		held = held[:0]
		heldMu.Unlock()
	}
	require.Eventually(t, func() bool { return settled(cb) }, 5*time.Second, time.Millisecond,
		"plugin side: %d frames received, %d released", cb.recvd.Load(), cb.released.Load())

	// The caller's side: read part of a packed frame, keep a lease, and
	// close the stream from another goroutine.
	for r := range rounds {
		st, err := host.NewStream(ctx, echo, nil, true)
		require.NoError(t, err)
		var kept []*Lease
		for i := range keep {
			l := new(Lease)
			require.NoError(t, st.Recv(l), "round %d message %d", r, i)
			if i%7 == 0 {
				kept = append(kept, l)
			} else {
				l.Release()
			}
		}
		done := make(chan struct{})
		go func() { st.Close(); close(done) }()
		<-done
		for _, l := range kept {
			require.Len(t, l.Bytes(), 64)
			l.Release()
		}
	}
	require.Eventually(t, func() bool { return settled(ca) }, 5*time.Second, time.Millisecond,
		"host side: %d frames received, %d released", ca.recvd.Load(), ca.released.Load())
}
