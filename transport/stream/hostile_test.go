package stream_test

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// rawPair returns a transport and the raw connection of its peer, for
// writing bytes the stream transport would never send.
func rawPair(t *testing.T, cfg stream.Config) (*stream.Transport, *stream.Transport) {
	a, b, err := stream.Pair(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	transporttest.Watchdog(t, 30*time.Second, a, b)
	return a, b
}

func writeRaw(t *testing.T, tr *stream.Transport, b []byte) {
	t.Helper()
	_, err := tr.Conn().Write(b)
	require.NoError(t, err)
}

// requireClosedByPeer checks that the transport under test closed its end:
// the raw side then reads EOF.
func requireClosedByPeer(t *testing.T, raw *stream.Transport) {
	t.Helper()
	require.NoError(t, raw.Conn().SetReadDeadline(time.Now().Add(time.Second)))
	_, err := raw.Conn().Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestOversizeLengthDoesNotAllocate(t *testing.T) {
	tr, raw := rawPair(t, stream.Config{})
	var d wire.Desc
	d.SetLength(1 << 30)
	writeRaw(t, raw, d[:])

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var f transport.Frame
	err := tr.Recv(&f)
	runtime.ReadMemStats(&after)

	require.ErrorIs(t, err, plexus.ErrProtocolViolation)
	require.Contains(t, err.Error(), "1073741824")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20),
		"Recv allocated for a length it rejects")
	require.Nil(t, f.Payload)
	requireClosedByPeer(t, raw)
	require.ErrorIs(t, tr.Recv(&f), plexus.ErrProtocolViolation, "the violation is sticky")
	require.ErrorIs(t, tr.Send(new(wire.Desc), nil), plexus.ErrProtocolViolation)
	require.NoError(t, tr.Close())
	require.ErrorIs(t, tr.Recv(&f), plexus.ErrLinkClosed)
}

func TestMalformedDescriptor(t *testing.T) {
	cases := map[string]func(*wire.Desc){
		"length one above limit": func(d *wire.Desc) { d.SetLength(1<<16 + 1) },
		"reserved low byte":      func(d *wire.Desc) { d[10] = 1 },
		"reserved high byte":     func(d *wire.Desc) { d[11] = 0x80 },
		"flag INLINE":            func(d *wire.Desc) { d.SetFlags(wire.FlagInline) },
		"flag SLOT":              func(d *wire.Desc) { d.SetFlags(wire.FlagSlot) },
		"flag bit 2":             func(d *wire.Desc) { d.SetFlags(1 << 2) },
		"flag bit 3":             func(d *wire.Desc) { d.SetFlags(1 << 3) },
		"slot field":             func(d *wire.Desc) { d[36] = 1 },
		"gen field":              func(d *wire.Desc) { d[43] = 1 },
		"offset field":           func(d *wire.Desc) { d[44] = 1 },
		"last inline byte":       func(d *wire.Desc) { d[63] = 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tr, raw := rawPair(t, stream.Config{MaxPayload: 1 << 16})
			var good wire.Desc
			good.SetFlags(0xf0) // session bits are not the transport's to judge
			good.SetLength(3)
			writeRaw(t, raw, append(good[:], "abc"...))
			var bad wire.Desc
			mutate(&bad)
			writeRaw(t, raw, bad[:])

			var f transport.Frame
			require.NoError(t, tr.Recv(&f))
			require.Equal(t, uint8(0xf0), f.Desc.Flags())
			require.Equal(t, []byte("abc"), f.Payload)
			tr.Release(&f)
			err := tr.Recv(&f)
			require.ErrorIs(t, err, plexus.ErrProtocolViolation)
			requireClosedByPeer(t, raw)
		})
	}
}

func TestTruncated(t *testing.T) {
	var d wire.Desc
	d.SetLength(100)
	cases := map[string][]byte{
		"inside descriptor": d[:30],
		"inside payload":    append(d[:], make([]byte, 50)...),
		"before payload":    d[:],
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			tr, raw := rawPair(t, stream.Config{})
			writeRaw(t, raw, data)
			require.NoError(t, raw.Close())
			var f transport.Frame
			err := tr.Recv(&f)
			require.ErrorIs(t, err, plexus.ErrPeerDied)
			require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "cause: %v", err)
			require.Nil(t, f.Payload)
		})
	}
	t.Run("at frame boundary", func(t *testing.T) {
		tr, raw := rawPair(t, stream.Config{})
		require.NoError(t, raw.Close())
		var f transport.Frame
		err := tr.Recv(&f)
		require.ErrorIs(t, err, plexus.ErrPeerDied)
		require.ErrorIs(t, err, io.EOF)
	})
}

func TestConfigDefaults(t *testing.T) {
	a, b, err := stream.Pair(stream.Config{})
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	require.Equal(t, stream.DefaultMaxPayload, a.MaxPayload())
}

func TestDialRejectsOtherNetworks(t *testing.T) {
	_, err := streamnet.Dial(t.Context(), "udp", "127.0.0.1:1", stream.Config{})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	_, err = streamnet.Listen("udp", "127.0.0.1:0", stream.Config{})
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
}
