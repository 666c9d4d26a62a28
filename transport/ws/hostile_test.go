//go:build !js

package ws_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/transport/ws"
	"github.com/plexus-ipc/plexus/wire"
)

// rawClient dials url with a bare coder/websocket connection, offering
// plexus.v1 unless opts says otherwise: for sending what a ws.Transport
// never would. The test's cleanup drops it.
func rawClient(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{Subprotocols: []string{ws.Subprotocol}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// rawWrite sends one message from a raw client.
func rawWrite(t *testing.T, c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, typ, msg))
}

// requireClosedWith reads from a raw client until the server's close frame
// arrives and checks its code and that its reason says what was wrong.
func requireClosedWith(t *testing.T, c *websocket.Conn, code websocket.StatusCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 100 {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue // a frame the server sent before it found the fault
		}
		var ce websocket.CloseError
		require.True(t, errors.As(err, &ce), "the read ended with %v, not the server's close frame", err)
		require.Equal(t, code, ce.Code, "close reason %q", ce.Reason)
		require.Contains(t, ce.Reason, reason)
		return
	}
	t.Fatal("no close frame within 100 messages")
}

// requireRecvViolation checks that the server's end reports the protocol
// violation, saying reason, and that every later call reports it too.
func requireRecvViolation(t *testing.T, tr *ws.Transport, reason string) {
	t.Helper()
	var f transport.Frame
	err := tr.Recv(&f)
	require.ErrorIs(t, err, plexus.ErrProtocolViolation)
	require.Contains(t, err.Error(), reason)
	require.Nil(t, f.Payload)
	require.ErrorIs(t, tr.Recv(&f), plexus.ErrProtocolViolation, "the violation is sticky")
	require.ErrorIs(t, tr.Send(new(wire.Desc), []byte("x")), plexus.ErrProtocolViolation)
}

// frameMsg is a message holding a descriptor with payload length length,
// changed by edit, followed by body.
func frameMsg(length int, edit func(*wire.Desc), body []byte) []byte {
	var d wire.Desc
	d.SetChannel(1)
	d.SetKind(2)
	d.SetFlags(wire.FlagMsg)
	d.SetLength(uint32(length))
	if edit != nil {
		edit(&d)
	}
	return append(d[:], body...)
}

// hostileCase sends msg from a raw client to a fresh server and checks
// both ends: the server's Recv reports the violation, and the client reads
// a close frame with code and a reason containing reason.
func hostileCase(t *testing.T, cfg ws.Config, typ websocket.MessageType, msg []byte, code websocket.StatusCode, reason string) {
	t.Helper()
	s := startServer(t, ws.HandlerConfig{Config: cfg})
	c := rawClient(t, s.URL, nil)
	tr := s.accept(t)
	transporttest.Watchdog(t, 30*time.Second, tr)
	rawWrite(t, c, typ, msg)
	requireRecvViolation(t, tr, reason)
	requireClosedWith(t, c, code, reason)
}

func TestTextMessage(t *testing.T) {
	hostileCase(t, ws.Config{}, websocket.MessageText, frameMsg(2, nil, []byte("hi")),
		websocket.StatusUnsupportedData, "text message")
}

func TestTruncatedFrame(t *testing.T) {
	t.Run("shorter than a descriptor", func(t *testing.T) {
		hostileCase(t, ws.Config{}, websocket.MessageBinary, frameMsg(0, nil, nil)[:40],
			websocket.StatusPolicyViolation, "message of 40 bytes is shorter than the 64-byte descriptor")
	})
	t.Run("length exceeds the message", func(t *testing.T) {
		hostileCase(t, ws.Config{}, websocket.MessageBinary, frameMsg(100, nil, make([]byte, 50)),
			websocket.StatusPolicyViolation, "ends after 50 payload bytes; its descriptor declares 100")
	})
	t.Run("message exceeds the length", func(t *testing.T) {
		hostileCase(t, ws.Config{}, websocket.MessageBinary, frameMsg(10, nil, make([]byte, 50)),
			websocket.StatusPolicyViolation, "message of 114 bytes; its descriptor declares a 10-byte payload")
	})
}

func TestInvalidDescriptor(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(*wire.Desc)
		code   websocket.StatusCode
		reason string
	}{
		{"reserved bits", func(d *wire.Desc) { d[10] = 0x40 }, websocket.StatusPolicyViolation, "reserved field is 0x0040"},
		{"INLINE flag", func(d *wire.Desc) { d.SetFlags(wire.FlagMsg | wire.FlagInline) }, websocket.StatusPolicyViolation, "flags 0x41 set INLINE"},
		{"SLOT flag", func(d *wire.Desc) { d.SetFlags(wire.FlagSlot) }, websocket.StatusPolicyViolation, "flags 0x02"},
		{"placement bytes", func(d *wire.Desc) { d[50] = 7 }, websocket.StatusPolicyViolation, "bytes 36..63 are not zero"},
		{"length above the limit", func(d *wire.Desc) { d.SetLength(1<<16 + 1) }, websocket.StatusMessageTooBig, "frame length 65537 exceeds the 65536-byte payload limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hostileCase(t, ws.Config{MaxPayload: 1 << 16}, websocket.MessageBinary, frameMsg(3, c.edit, []byte("abc")), c.code, c.reason)
		})
	}
}

// TestOversizedMessage sends a message one KiB above the limit while
// another client keeps making round trips on the same server: the bad
// link is closed with 1009 and a reason that says so, and the good one
// never notices.
func TestOversizedMessage(t *testing.T) {
	cfg := ws.Config{MaxPayload: 64 << 10}
	failed := make(chan error, 4)
	s := startServer(t, ws.HandlerConfig{Config: cfg, Serve: func(_ context.Context, tr *ws.Transport) {
		go func() {
			failed <- echo(tr)
			_ = tr.Close()
		}()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good, err := ws.Dial(ctx, s.URL, ws.DialConfig{Config: cfg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = good.Close() })
	transporttest.Watchdog(t, 30*time.Second, good)

	// The good client runs round trips until told to stop, and then a
	// few more, so that some surely happen after the refusal.
	var stop atomic.Bool
	var trips atomic.Int64
	goodErr := make(chan error, 1)
	go func() {
		p := transporttest.Pattern(1000, 1)
		for i := uint64(0); i < 100000; i++ {
			if err := roundTrip(good, i, p); err != nil {
				goodErr <- err
				return
			}
			trips.Add(1)
			if stop.Load() {
				for j := range uint64(20) {
					if err := roundTrip(good, i+1+j, p); err != nil {
						goodErr <- err
						return
					}
				}
				goodErr <- nil
				return
			}
		}
		goodErr <- nil
	}()

	bad := rawClient(t, s.URL, nil)
	rawWrite(t, bad, websocket.MessageBinary, frameMsg(64<<10, nil, make([]byte, 65<<10)))
	select {
	case err := <-failed:
		require.ErrorIs(t, err, plexus.ErrProtocolViolation)
		require.Contains(t, err.Error(), "too big")
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not refuse the oversized message")
	}
	requireClosedWith(t, bad, websocket.StatusMessageTooBig, "message too big: over 65600 bytes")

	before := trips.Load()
	stop.Store(true)
	select {
	case err := <-goodErr:
		require.NoError(t, err, "the other client's link was disturbed")
	case <-time.After(20 * time.Second):
		t.Fatal("the other client's round trips stalled")
	}
	require.Greater(t, trips.Load(), before, "no round trip after the refusal")
}

// TestPeerCloseReason: a peer that closes with a reason is PEER_DIED, and
// the status carries the code and the reason.
func TestPeerCloseReason(t *testing.T) {
	s := startServer(t, ws.HandlerConfig{})
	c := rawClient(t, s.URL, nil)
	tr := s.accept(t)
	transporttest.Watchdog(t, 30*time.Second, tr)
	errc := make(chan error, 1)
	go func() {
		var f transport.Frame
		errc <- tr.Recv(&f)
	}()
	require.NoError(t, c.Close(websocket.StatusGoingAway, "shutting down for upgrade"))
	err := <-errc
	require.ErrorIs(t, err, plexus.ErrPeerDied)
	require.Contains(t, err.Error(), "StatusGoingAway")
	require.Contains(t, err.Error(), "shutting down for upgrade")
	require.True(t, bytes.Contains([]byte(err.Error()), []byte("peer closed")))
}
