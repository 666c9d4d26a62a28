//go:build !js

package ws_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/transport/ws"
	"github.com/plexus-ipc/plexus/wire"
)

// bufferBound is more than a loopback TCP connection can buffer between
// a writer and a reader that does not read (the kernel's send and receive
// buffers, a few MiB each at most, and the library's 4 KiB): a sender that
// got more than this accepted would be queueing it in memory.
const bufferBound = 64 << 20

// waitStuck waits until n stops growing for 200 ms, which means the sender
// behind it is blocked in a write, or fails if that takes 20 s or the
// sender has ended.
func waitStuck(t *testing.T, n *atomic.Int64, ended <-chan error) {
	t.Helper()
	last, since := n.Load(), time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-ended:
			t.Fatalf("the sender ended before it blocked: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if cur := n.Load(); cur != last {
			last, since = cur, time.Now()
		} else if time.Since(since) > 200*time.Millisecond {
			return
		}
	}
	t.Fatal("the sender never blocked: its frames are going somewhere")
}

// TestStalledReaderSendBounded: a client that connects and stops reading
// holds the server's sender for at most WriteTimeout, after which the link
// is down for every call; a sender waiting for its turn gives up with its
// context, nothing sent; and what Send accepted before it blocked is
// bounded by the connection's buffers, not queued in memory.
func TestStalledReaderSendBounded(t *testing.T) {
	const writeTimeout = time.Second
	s := startServer(t, ws.HandlerConfig{Config: ws.Config{MaxPayload: 1 << 20, WriteTimeout: writeTimeout, CloseTimeout: 200 * time.Millisecond}})
	_ = rawClient(t, s.URL, nil) // reads nothing, ever
	tr := s.accept(t)
	transporttest.Watchdog(t, 60*time.Second, tr)

	var sent atomic.Int64
	ended := make(chan error, 1)
	go func() {
		payload := make([]byte, 256<<10)
		for range 4 * bufferBound / len(payload) {
			if err := tr.Send(new(wire.Desc), payload); err != nil {
				ended <- err
				return
			}
			sent.Add(int64(len(payload)))
		}
		ended <- nil
	}()
	waitStuck(t, &sent, ended)
	stuckAt := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := tr.SendContext(ctx, new(wire.Desc), []byte("waits its turn"))
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	require.Less(t, time.Since(stuckAt), writeTimeout/2, "the waiting sender outlived its context")

	select {
	case err := <-ended:
		require.ErrorIs(t, err, plexus.ErrPeerDied)
		require.ErrorContains(t, err, "WriteTimeout")
		// The write had been blocked for up to 200 ms before stuckAt.
		require.Less(t, time.Since(stuckAt), writeTimeout+2*time.Second)
	case <-time.After(writeTimeout + 10*time.Second):
		t.Fatal("Send stayed blocked past WriteTimeout")
	}
	t.Logf("Send accepted %d bytes before it blocked", sent.Load())
	require.Less(t, sent.Load(), int64(bufferBound), "Send accepted %d bytes from a client that reads nothing", sent.Load())

	// The link is down for every call, at once.
	start := time.Now()
	require.ErrorIs(t, tr.Send(new(wire.Desc), []byte("x")), plexus.ErrPeerDied)
	var f transport.Frame
	require.ErrorIs(t, tr.Recv(&f), plexus.ErrPeerDied)
	require.NoError(t, tr.Close())
	require.Less(t, time.Since(start), time.Second)
}

// countingTransport counts the payload bytes the session hands to the
// transport.
type countingTransport struct {
	*ws.Transport
	sent atomic.Int64
}

func (c *countingTransport) Send(d *wire.Desc, p []byte) error {
	c.sent.Add(int64(len(p)))
	return c.Transport.Send(d, p)
}

func (c *countingTransport) SendContext(ctx context.Context, d *wire.Desc, p []byte) error {
	c.sent.Add(int64(len(p)))
	return c.Transport.SendContext(ctx, d, p)
}

// TestStalledReaderSessionEnds: a session whose peer connects and then
// neither reads nor answers ends by keepalive; its calls end by their
// deadlines meanwhile, and flow control keeps what the session hands to
// the transport within the peer's initial window.
func TestStalledReaderSessionEnds(t *testing.T) {
	type served struct {
		s  *session.Session
		ct *countingTransport
	}
	sessions := make(chan served, 1)
	srv := startServer(t, ws.HandlerConfig{
		Config: ws.Config{WriteTimeout: time.Second, CloseTimeout: 200 * time.Millisecond},
		Serve: func(_ context.Context, tr *ws.Transport) {
			ct := &countingTransport{Transport: tr}
			s := session.New(ct, session.Config{Role: session.Acceptor, KeepaliveIdle: 200 * time.Millisecond, KeepaliveTimeout: 300 * time.Millisecond})
			sessions <- served{s, ct}
		},
	})
	_ = rawClient(t, srv.URL, nil) // speaks no plexus, reads nothing
	var sv served
	select {
	case sv = <-sessions:
	case <-time.After(10 * time.Second):
		t.Fatal("no link")
	}
	t.Cleanup(func() { _ = sv.s.Close() })

	const calls, callTimeout = 64, 2 * time.Second
	payload := plexus.Raw(make([]byte, 32<<10))
	type result struct {
		err error
		dur time.Duration
	}
	results := make(chan result, calls)
	for range calls {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			start := time.Now()
			var resp plexus.Raw
			err := sv.s.Invoke(ctx, 0x1234, payload, &resp)
			results <- result{err, time.Since(start)}
		}()
	}
	for range calls {
		select {
		case r := <-results:
			require.Error(t, r.err)
			require.Less(t, r.dur, callTimeout+time.Second, "a call outlived its deadline: %v", r.err)
		case <-time.After(callTimeout + 10*time.Second):
			t.Fatal("a call never returned")
		}
	}
	select {
	case <-sv.s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	require.ErrorIs(t, sv.s.Err(), plexus.ErrPeerDied)
	t.Logf("the session handed the transport %d payload bytes; %v", sv.ct.sent.Load(), sv.s.Err())
	window := int64(session.DefaultLinkWindow)
	require.LessOrEqual(t, sv.ct.sent.Load(), window+64<<10,
		"the session handed the transport more than the peer's window")
}
