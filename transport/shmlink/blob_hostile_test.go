//go:build linux

package shmlink

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

func ctlMsg(typ uint32, id uint64) []byte {
	msg := make([]byte, ctlMsgSize)
	binary.LittleEndian.PutUint32(msg, typ)
	binary.LittleEndian.PutUint64(msg[8:], id)
	return msg
}

// announce sends ctlBuffer for a new sealed buffer of size bytes holding
// data.
func (p *rawPeer) announce(t testing.TB, id uint64, data []byte, size int) {
	t.Helper()
	fd := makeBlob(t, data, size, bufSeals)
	require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, id), fd))
	_ = unix.Close(fd)
}

// announceSparse is announce of a buffer whose pages were never written.
func (p *rawPeer) announceSparse(t testing.TB, id uint64, size int, seals int) {
	t.Helper()
	fd := makeSparseBlob(t, nil, size, seals)
	require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, id), fd))
	_ = unix.Close(fd)
}

// recvCtl reads one control message the Transport sent the raw peer,
// waiting up to 10 s; a descriptor that came with it is closed.
func (p *rawPeer) recvCtl(t testing.TB) (typ uint32, id uint64, nfds int) {
	t.Helper()
	require.NoError(t, unix.SetsockoptTimeval(p.ctl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}))
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(p.ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
	require.NoError(t, err)
	require.Equal(t, ctlMsgSize, n)
	fds, err := parseRights(oob[:oobn])
	require.NoError(t, err)
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
	le := binary.LittleEndian
	return le.Uint32(buf), le.Uint64(buf[8:]), len(fds)
}

// expectViolation checks that the link broke over the peer's violation
// with msg, for good, and that the peer was told (end of file).
func expectViolation(t *testing.T, host *Transport, p *rawPeer, msg string) {
	t.Helper()
	var f transport.Frame
	err := recvWithin(t, host, &f)
	require.ErrorIs(t, err, plexus.ErrProtocolViolation)
	require.ErrorContains(t, err, msg)
	require.Nil(t, f.Payload)
	require.ErrorIs(t, recvWithin(t, host, &f), plexus.ErrProtocolViolation)
	require.ErrorIs(t, host.Send(new(wire.Desc), []byte("x")), plexus.ErrProtocolViolation)
	require.NoError(t, unix.SetsockoptTimeval(p.ctl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}))
	for range 100 { // what the host sent before, then end of file
		n, _, err := unix.Recvfrom(p.ctl, make([]byte, 64), 0)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
	t.Fatal("the host did not shut its control socket down")
}

// TestBlobBufferHostile: every misuse of the recycled-buffer messages by
// the peer (a free of a buffer it does not hold, a second free, a forget
// of an unknown or held buffer, a buffer that is not a sealed memfd of
// whole pages, too large, out of ID order, or named past its end or twice
// while held) breaks the link with ProtocolViolation; afterwards the host
// holds no memfd or mapping.
func TestBlobBufferHostile(t *testing.T) {
	page := make([]byte, 4096)
	cases := []struct {
		name string
		act  func(t *testing.T, host *Transport, p *rawPeer)
		msg  string
	}{
		{"free of an unknown buffer", func(t *testing.T, _ *Transport, p *rawPeer) {
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, 5)))
		}, "free of blob buffer 5"},
		{"double free", func(t *testing.T, host *Transport, p *rawPeer) {
			// hostileConfig's host slots are 256 bytes: 1000 is a blob.
			require.NoError(t, host.Send(new(wire.Desc), bytes.Repeat([]byte{1}, 1000)))
			typ, id, nfds := p.recvCtl(t)
			require.Equal(t, uint32(ctlBuffer), typ)
			require.Equal(t, 1, nfds)
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, id)))
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, id)))
		}, "not out with the peer"},
		{"free of a buffer the peer never got", func(t *testing.T, host *Transport, p *rawPeer) {
			b, err := host.Alloc(1000)
			require.NoError(t, err)
			require.NoError(t, host.Send(new(wire.Desc), b))
			_, id, _ := p.recvCtl(t)
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, id)))
			// Now free in the host's cache; take it out again.
			b, err = host.Alloc(1000)
			require.NoError(t, err)
			defer host.Free(b)
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, id)))
		}, "not out with the peer"},
		{"forget of an unknown buffer", func(t *testing.T, _ *Transport, p *rawPeer) {
			require.NoError(t, p.sendCtl(ctlMsg(ctlForget, 3)))
		}, "forget of blob buffer 3"},
		{"buffer not sealed", func(t *testing.T, _ *Transport, p *rawPeer) {
			fd := makeBlob(t, nil, 4096, 0)
			require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, 1), fd))
			_ = unix.Close(fd)
		}, "not a memfd sealed against resizing"},
		{"buffer sealed against shrinking only", func(t *testing.T, _ *Transport, p *rawPeer) {
			fd := makeBlob(t, nil, 4096, unix.F_SEAL_SHRINK)
			require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, 1), fd))
			_ = unix.Close(fd)
		}, "not a memfd sealed against resizing"},
		{"buffer is a pipe", func(t *testing.T, _ *Transport, p *rawPeer) {
			var pfd [2]int
			require.NoError(t, unix.Pipe2(pfd[:], unix.O_CLOEXEC))
			require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, 1), pfd[0]))
			_ = unix.Close(pfd[0])
			_ = unix.Close(pfd[1])
		}, "not a memfd sealed against resizing"},
		{"buffer not whole pages", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announce(t, 1, nil, 100)
		}, "not whole pages"},
		{"buffer over the bound", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announceSparse(t, 1, 2*DefaultBlobCache, bufSeals) // refused before its pages count
		}, "over the"},
		{"sparse buffer", func(t *testing.T, _ *Transport, p *rawPeer) {
			// Mapped with MAP_POPULATE, its 64 MiB of holes would be
			// allocated in this process's name.
			p.announceSparse(t, 1, 64<<20, bufSeals)
		}, "has holes: 67108864 of its 67108864 bytes"},
		{"buffer a hole could be punched in", func(t *testing.T, _ *Transport, p *rawPeer) {
			fd := makeBlob(t, nil, 4096, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
			require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, 1), fd))
			_ = unix.Close(fd)
		}, "new writers"},
		{"buffers over the bound together", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announce(t, 1, nil, DefaultBlobCache/2)
			p.announce(t, 2, nil, DefaultBlobCache/2)
			p.announce(t, 3, nil, 4096)
		}, "over the"},
		{"buffer ID out of order", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announce(t, 5, nil, 4096)
			p.announce(t, 3, nil, 4096)
		}, "not above the last one"},
		{"buffer ID of a pending blob", func(t *testing.T, _ *Transport, p *rawPeer) {
			fd := makeBlob(t, nil, 4096, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
			require.NoError(t, p.sendCtl(blobMsg(7), fd))
			_ = unix.Close(fd)
			p.announce(t, 7, nil, 4096)
		}, "in use"},
		{"blob ID of a buffer", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announce(t, 7, nil, 4096)
			fd := makeBlob(t, nil, 4096, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
			require.NoError(t, p.sendCtl(blobMsg(7), fd))
			_ = unix.Close(fd)
		}, "sent twice"},
		{"buffer without a descriptor", func(t *testing.T, _ *Transport, p *rawPeer) {
			require.NoError(t, p.sendCtl(ctlMsg(ctlBuffer, 1)))
		}, "0 descriptors, want 1"},
		{"free with a descriptor", func(t *testing.T, _ *Transport, p *rawPeer) {
			fd := makeBlob(t, nil, 4096, bufSeals)
			require.NoError(t, p.sendCtl(ctlMsg(ctlFree, 1), fd))
			_ = unix.Close(fd)
		}, "1 descriptors, want 0"},
		{"forget of ID 0", func(t *testing.T, _ *Transport, p *rawPeer) {
			require.NoError(t, p.sendCtl(ctlMsg(ctlForget, 0)))
		}, "for ID 0"},
		{"unknown message type", func(t *testing.T, _ *Transport, p *rawPeer) {
			require.NoError(t, p.sendCtl(ctlMsg(9, 1)))
		}, "type 9"},
		{"reserved field set", func(t *testing.T, _ *Transport, p *rawPeer) {
			msg := ctlMsg(ctlFree, 1)
			msg[4] = 1
			require.NoError(t, p.sendCtl(msg))
		}, "reserved 0x1"},
		{"descriptor past the buffer's end", func(t *testing.T, _ *Transport, p *rawPeer) {
			p.announce(t, 1, page, 4096)
			require.NoError(t, p.push(blobDesc(1, 4000, 200)))
		}, "has 4096 bytes, the descriptor needs 4200"},
		{"buffer named again while held", func(t *testing.T, host *Transport, p *rawPeer) {
			p.announce(t, 1, page, 4096)
			require.NoError(t, p.push(blobDesc(1, 0, 100), blobDesc(1, 0, 100)))
			var f transport.Frame
			require.NoError(t, recvWithin(t, host, &f))
			t.Cleanup(func() { host.Release(&f) })
		}, "sent again while this side holds it"},
		{"forget of a held buffer", func(t *testing.T, host *Transport, p *rawPeer) {
			p.announce(t, 1, page, 4096)
			require.NoError(t, p.push(blobDesc(1, 0, 100)))
			var f transport.Frame
			require.NoError(t, recvWithin(t, host, &f))
			t.Cleanup(func() { host.Release(&f) })
			require.NoError(t, p.sendCtl(ctlMsg(ctlForget, 1)))
		}, "held by a frame"},
		{"descriptor naming a forgotten buffer", func(t *testing.T, host *Transport, p *rawPeer) {
			p.announce(t, 1, page, 4096)
			require.NoError(t, p.sendCtl(ctlMsg(ctlForget, 1)))
			// Recv looks a known buffer up before it reads the socket
			// (an honest peer never names a buffer it forgot), so the
			// monitor must have taken the forget first.
			require.Eventually(t, func() bool { return host.blob.stats.forgotten.Load() == 1 },
				10*time.Second, time.Millisecond)
			require.NoError(t, p.push(blobDesc(1, 0, 100)))
		}, "names no blob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := memfdUsage(t)
			// Runs last (cleanups are LIFO): after the link and the raw
			// peer are gone and every frame is released.
			t.Cleanup(func() { require.Equal(t, before, memfdUsage(t), "memfds or mappings left") })
			host, p := newRawPeer(t, hostileConfig(), Config{MaxPayload: 1 << 20})
			transporttest.Watchdog(t, 30*time.Second, host)
			tc.act(t, host, p)
			expectViolation(t, host, p, tc.msg)
			require.NoError(t, host.Close())
		})
	}
}

// TestBlobBufferFromRawPeer: a buffer announced by a peer is mapped once
// and named by several descriptors in turn; each Release answers with
// ctlFree; ctlForget unmaps it; the bytes are the peer's, at any offset.
func TestBlobBufferFromRawPeer(t *testing.T) {
	before := memfdUsage(t)
	t.Cleanup(func() { require.Equal(t, before, memfdUsage(t), "memfds or mappings left") })
	host, p := newRawPeer(t, hostileConfig(), Config{MaxPayload: 1 << 20})
	transporttest.Watchdog(t, 30*time.Second, host)
	data := pattern(3*4096, 4)
	p.announce(t, 11, data, len(data))
	var f transport.Frame
	for i, off := range []uint32{0, 777, 8192} {
		require.NoError(t, p.push(blobDesc(11, off, 3000)))
		require.NoError(t, recvWithin(t, host, &f))
		require.True(t, bytes.Equal(data[off:off+3000], f.Payload), "frame %d", i)
		host.Release(&f)
		typ, id, nfds := p.recvCtl(t)
		require.Equal(t, uint32(ctlFree), typ)
		require.Equal(t, uint64(11), id)
		require.Zero(t, nfds)
	}
	require.EqualValues(t, 1, host.blob.stats.mapped.Load())
	require.Equal(t, usage{Maps: 1}, host.blobUsage())
	require.NoError(t, p.sendCtl(ctlMsg(ctlForget, 11)))
	// The forget is the monitor's; a later buffer is seen by Recv only
	// after it (one socket, in order).
	p.announce(t, 12, data, len(data))
	require.NoError(t, p.push(blobDesc(12, 0, 100)))
	require.NoError(t, recvWithin(t, host, &f))
	host.Release(&f)
	require.EqualValues(t, 1, host.blob.stats.forgotten.Load())
	require.Equal(t, usage{Maps: 1}, host.blobUsage())
}
