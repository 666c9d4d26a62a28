package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// packMsg is message i of a buffered stream: sizes vary from empty to
// twice packLimit, so that packed frames, full frames and messages sent in
// frames of their own interleave.
func packTestMsg(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	n := r.IntN(64)
	switch i % 97 {
	case 0:
		n = 0
	case 1:
		n = packLimit
	case 2:
		n = packLimit + 1 + r.IntN(packLimit)
	}
	b := make([]byte, n+8)
	binary.LittleEndian.PutUint64(b, uint64(i))
	for k := 8; k < len(b); k++ {
		b[k] = byte(r.Uint32())
	}
	return b
}

// TestBufferedStreamBothWays: a buffered client stream of 20,000
// messages, echoed back by a buffered handler, arrives complete and in
// order, mixing packed and unpacked frames; CloseSend and the handler's
// return flush what is buffered.
func TestBufferedStreamBothWays(t *testing.T) {
	const count = 20000
	mux := NewMux()
	echo, err := mux.HandleStream("test.Pack", "Echo", func(ctx context.Context, st *Stream) error {
		require.NoError(t, st.Buffer(true))
		var m plexus.Raw
		for {
			err := st.Recv(&m)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := st.Send(m); err != nil {
				return err
			}
		}
	})
	require.NoError(t, err)
	host, _ := pair(t, nil, mux)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := host.NewStream(ctx, echo, nil, false)
	require.NoError(t, err)
	require.NoError(t, st.Buffer(true))
	sendErr := make(chan error, 1)
	go func() {
		for i := range count {
			if err := st.Send(plexus.Raw(packTestMsg(i))); err != nil {
				sendErr <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sendErr <- st.CloseSend()
	}()
	// The receiving side must not flush in Recv here (it would race the
	// sender for the buffer only through packMu, which is the point).
	var m plexus.Raw
	for i := range count {
		require.NoError(t, st.Recv(&m), "message %d", i)
		if !bytes.Equal(m, packTestMsg(i)) {
			t.Fatalf("message %d: got %d bytes (index %d), want %d", i, len(m), binary.LittleEndian.Uint64(m), len(packTestMsg(i)))
		}
	}
	require.NoError(t, <-sendErr)
	require.ErrorIs(t, st.Recv(&m), io.EOF)
}

// TestBufferedFlushOnRecv: a bidirectional ping-pong in buffered mode
// does not deadlock: Recv flushes the ping the peer waits for.
func TestBufferedFlushOnRecv(t *testing.T) {
	mux := NewMux()
	pong, _ := mux.HandleStream("test.Pack", "Pong", func(ctx context.Context, st *Stream) error {
		require.NoError(t, st.Buffer(true))
		var m plexus.Raw
		for {
			if err := st.Recv(&m); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := st.Send(append(plexus.Raw("pong:"), m...)); err != nil {
				return err
			}
		}
	})
	host, _ := pair(t, nil, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := host.NewStream(ctx, pong, nil, false)
	require.NoError(t, err)
	require.NoError(t, st.Buffer(true))
	var m plexus.Raw
	for i := range 100 {
		require.NoError(t, st.Send(plexus.Raw(fmt.Sprint(i))))
		require.NoError(t, st.Recv(&m))
		require.Equal(t, fmt.Sprintf("pong:%d", i), string(m))
	}
	require.NoError(t, st.CloseSend())
	require.ErrorIs(t, st.Recv(&m), io.EOF)
}

func TestCountPacked(t *testing.T) {
	rec := func(b ...[]byte) []byte {
		var out []byte
		for _, m := range b {
			out = binary.LittleEndian.AppendUint16(out, uint16(len(m)))
			out = append(out, m...)
		}
		return out
	}
	n, err := countPacked(rec([]byte("a"), nil, []byte("bcd")))
	require.Nil(t, err)
	require.Equal(t, 3, n)
	for name, p := range map[string][]byte{
		"empty":            nil,
		"half a header":    {1},
		"record past end":  {5, 0, 'a'},
		"trailing garbage": append(rec([]byte("x")), 9),
	} {
		_, err := countPacked(p)
		require.NotNil(t, err, name)
		require.Equal(t, plexus.ProtocolViolation, err.Code, name)
	}
}

// TestDrainSendsGoAwayFirst: a drain with nothing in flight closes the
// link only after its GOAWAY went out, so the peer knows its later calls
// were refused, not lost.
//
// With a link window above the default, each side's control writer sends
// a CREDIT as the session starts: the peer's may find the link already
// closed by the drain, and the peer must still read the GOAWAY that came
// before the close rather than die of the failed send.
func TestDrainSendsGoAwayFirst(t *testing.T) {
	for _, window := range []int{0, 4 << 20} {
		t.Run(fmt.Sprintf("window=%d", window), func(t *testing.T) { drainGoAwayFirst(t, window) })
	}
}

func drainGoAwayFirst(t *testing.T, window int) {
	for i := range 50 {
		a, b := inproc.Pipe(inproc.Config{})
		log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
		host := New(a, Config{Role: Initiator, LinkWindow: window, Logger: log.Named("host")})
		plugin := New(b, Config{Role: Acceptor, LinkWindow: window, Logger: log.Named("plugin")})
		t.Cleanup(func() { host.Close(); plugin.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		require.NoError(t, host.Drain(ctx), "round %d", i)
		cancel()
		select {
		case <-plugin.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the peer did not see the link end")
		}
		plugin.mu.Lock()
		got := plugin.goAwayRecv
		plugin.mu.Unlock()
		require.True(t, got, "round %d: the link ended before the GOAWAY reached the peer", i)
	}
}

// TestNotSentMarker: calls refused before they leave this side carry
// ErrNotSent, so that a pool may retry them elsewhere.
func TestNotSentMarker(t *testing.T) {
	host, _ := pair(t, nil, nil)
	require.NoError(t, host.Close())
	err := host.Invoke(context.Background(), 1, plexus.Raw("x"), nil)
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, plexus.ErrLinkClosed)
}

// TestHoldDelaysHandlers: with Config.Hold, a call that arrives first is
// served only once Hold is closed.
func TestHoldDelaysHandlers(t *testing.T) {
	mux := NewMux()
	var ran atomic.Bool
	echo, _ := mux.HandleUnary("test.Hold", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		ran.Store(true)
		return plexus.Raw(req), nil
	})
	a, b := inproc.Pipe(inproc.Config{})
	hold := make(chan struct{})
	host := New(a, Config{Role: Initiator})
	plugin := New(b, Config{Role: Acceptor, Mux: mux, Hold: hold})
	t.Cleanup(func() { host.Close(); plugin.Close() })
	done := make(chan error, 1)
	go func() {
		var resp plexus.Raw
		done <- host.Invoke(context.Background(), echo, plexus.Raw("x"), &resp)
	}()
	select {
	case err := <-done:
		t.Fatalf("the call returned (%v) while the handlers were held", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.False(t, ran.Load())
	close(hold)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not finish after Hold was closed")
	}
	require.True(t, ran.Load())
}

// TestRefusedLeaseKept: a call refused before it is sent (ErrNotSent)
// leaves its lease to the caller, intact, to be sent elsewhere.
func TestRefusedLeaseKept(t *testing.T) {
	host, _ := pair(t, nil, nil)
	l, err := host.Alloc(100)
	require.NoError(t, err)
	copy(l.Bytes(), "payload")
	host.GoAway("test") // this side still calls; make it refuse instead:
	host.mu.Lock()
	host.draining = true
	host.mu.Unlock()
	err = host.Invoke(context.Background(), 1, l, nil)
	require.ErrorIs(t, err, ErrNotSent)
	require.Equal(t, 100, l.Len())
	require.Equal(t, "payload", string(l.Bytes()[:7]))
	l.Release()
}
