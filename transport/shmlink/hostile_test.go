//go:build linux

package shmlink

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

func hostileConfig() shm.Config {
	return shm.Config{
		RingCapacity:  64,
		HostClasses:   []shm.Class{{Size: 256, Count: 8}},
		PluginClasses: []shm.Class{{Size: 256, Count: 8}, {Size: 4096, Count: 2}},
		Wait:          time.Second,
	}
}

// recvWithin runs Recv with a bound, so that a hang fails the test.
func recvWithin(t *testing.T, tr *Transport, f *transport.Frame) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- tr.Recv(f) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(20 * time.Second):
		_ = tr.Close()
		t.Fatal("Recv did not return")
		return nil
	}
}

// TestRingTailIsOnlyAFigure: the host learns what the plugin published from
// the cells' stamps (SPEC.md "Ring"), so a tail the plugin writes past
// anything it published delivers nothing, and what it publishes next
// arrives whole.
func TestRingTailIsOnlyAFigure(t *testing.T) {
	host, p := newRawPeer(t, hostileConfig(), Config{MaxPayload: 1 << 20})
	transporttest.Watchdog(t, 30*time.Second, host)
	copy(p.mem[p.ringOff:], []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	n, err := host.ep.TryRecv(make([]wire.Desc, 4))
	require.NoError(t, err)
	require.Zero(t, n, "nothing was published")
	var d wire.Desc
	d.SetChannel(2)
	d.SetKind(wire.KindData)
	d.SetInline([]byte("after the tail"))
	require.NoError(t, p.push(d))
	var f transport.Frame
	require.NoError(t, recvWithin(t, host, &f))
	require.Equal(t, uint64(2), f.Desc.Channel())
	require.Equal(t, "after the tail", string(f.Payload))
	host.Release(&f)
}

// TestHostilePeer: every malformed descriptor, slot reference, blob and
// control message is a protocol violation that breaks the link (later
// calls report it, the peer's control socket sees end of file), and none
// panics or hangs.
func TestHostilePeer(t *testing.T) {
	sealed := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	cases := []struct {
		name string
		// act makes the raw peer misbehave; it may first send good
		// frames, which the test receives before the violation.
		act  func(t *testing.T, p *rawPeer)
		good int
		msg  string
	}{
		{"slot index out of range", func(t *testing.T, p *rawPeer) {
			var d wire.Desc
			d.SetSlotRef(1000, 1, 0, 100)
			require.NoError(t, p.push(d))
		}, 0, "out of bounds"},
		{"slot never allocated", func(t *testing.T, p *rawPeer) {
			var d wire.Desc
			d.SetSlotRef(3, 1, 0, 100)
			require.NoError(t, p.push(d))
		}, 0, "stale"},
		{"slot past its end", func(t *testing.T, p *rawPeer) {
			s, err := p.ep.Alloc(100)
			require.NoError(t, err)
			var d wire.Desc
			d.SetSlotRef(s.Index, s.Gen, 200, 100)
			require.NoError(t, p.push(d))
		}, 0, "out of bounds"},
		{"slot sent twice", func(t *testing.T, p *rawPeer) {
			s, err := p.ep.Alloc(100)
			require.NoError(t, err)
			var d wire.Desc
			d.SetSlotRef(s.Index, s.Gen, 0, 100)
			require.NoError(t, p.push(d, d))
		}, 1, "sent again"},
		{"inline too long", func(t *testing.T, p *rawPeer) {
			var d wire.Desc
			d.SetFlags(wire.FlagInline)
			d.SetLength(29)
			require.NoError(t, p.push(d))
		}, 0, "inline length"},
		{"reserved flag bit 3", func(t *testing.T, p *rawPeer) {
			var d wire.Desc
			d.SetFlags(1 << 3)
			require.NoError(t, p.push(d))
		}, 0, "reserved"},
		{"BLOB and SLOT", func(t *testing.T, p *rawPeer) {
			d := blobDesc(1, 0, 100)
			d.SetFlags(d.Flags() | wire.FlagSlot)
			require.NoError(t, p.push(d))
		}, 0, "BLOB descriptor with flags"},
		{"blob ID never sent", func(t *testing.T, p *rawPeer) {
			require.NoError(t, p.push(blobDesc(12345, 0, 100)))
		}, 0, "names no blob"},
		{"blob ID zero", func(t *testing.T, p *rawPeer) {
			require.NoError(t, p.push(blobDesc(0, 0, 100)))
		}, 0, "ID 0"},
		{"blob used twice", func(t *testing.T, p *rawPeer) {
			fd := makeBlob(t, bytes.Repeat([]byte{7}, 100), 100, sealed)
			require.NoError(t, p.sendCtl(blobMsg(9), fd))
			_ = unix.Close(fd)
			require.NoError(t, p.push(blobDesc(9, 0, 100), blobDesc(9, 0, 100)))
		}, 1, "names no blob"},
		{"blob not sealed against writes", func(t *testing.T, p *rawPeer) {
			fd := makeBlob(t, nil, 100, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW)
			require.NoError(t, p.sendCtl(blobMsg(1), fd))
			_ = unix.Close(fd)
			require.NoError(t, p.push(blobDesc(1, 0, 100)))
		}, 0, "not a memfd sealed"},
		{"sparse blob", func(t *testing.T, p *rawPeer) {
			// Never written: mapped with MAP_POPULATE it would be
			// allocated in this process's name.
			fd := makeSparseBlob(t, nil, 1<<20, sealed)
			require.NoError(t, p.sendCtl(blobMsg(1), fd))
			_ = unix.Close(fd)
			require.NoError(t, p.push(blobDesc(1, 0, 1<<20)))
		}, 0, "has holes: 1048576 of its 1048576 bytes"},
		{"blob with a hole in its payload", func(t *testing.T, p *rawPeer) {
			fd := makeSparseBlob(t, bytes.Repeat([]byte{1}, 4096), 3*4096, 0)
			_, err := unix.Pwrite(fd, []byte{2}, 2*4096)
			require.NoError(t, err)
			_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sealed)
			require.NoError(t, err)
			require.NoError(t, p.sendCtl(blobMsg(1), fd))
			_ = unix.Close(fd)
			require.NoError(t, p.push(blobDesc(1, 100, 2*4096)))
		}, 0, "has holes: 4096 of its 12288 bytes"},
		{"blob shorter than its descriptor", func(t *testing.T, p *rawPeer) {
			fd := makeBlob(t, nil, 100, sealed)
			require.NoError(t, p.sendCtl(blobMsg(1), fd))
			_ = unix.Close(fd)
			require.NoError(t, p.push(blobDesc(1, 50, 100)))
		}, 0, "the descriptor needs 150"},
		{"blob is a pipe", func(t *testing.T, p *rawPeer) {
			var pfd [2]int
			require.NoError(t, unix.Pipe2(pfd[:], unix.O_CLOEXEC))
			require.NoError(t, p.sendCtl(blobMsg(1), pfd[0]))
			_ = unix.Close(pfd[0])
			_ = unix.Close(pfd[1])
			require.NoError(t, p.push(blobDesc(1, 0, 100)))
		}, 0, "not a memfd sealed"},
		{"empty control message", func(t *testing.T, p *rawPeer) {
			// Read as end of file, it made the host report the plugin
			// dead (and a plugin take its host for dead) while the
			// sender lived on.
			require.NoError(t, p.sendCtl(nil))
		}, 0, "empty control message"},
		{"control message without a descriptor", func(t *testing.T, p *rawPeer) {
			require.NoError(t, p.sendCtl(blobMsg(1)))
		}, 0, "0 descriptors"},
		{"control message of the wrong size", func(t *testing.T, p *rawPeer) {
			fd := makeBlob(t, nil, 100, sealed)
			require.NoError(t, p.sendCtl(append(blobMsg(1), 0), fd))
			_ = unix.Close(fd)
		}, 0, "17 bytes"},
		{"control message with two descriptors", func(t *testing.T, p *rawPeer) {
			fd := makeBlob(t, nil, 100, sealed)
			require.NoError(t, p.sendCtl(blobMsg(1), fd, fd))
			_ = unix.Close(fd)
		}, 0, "2 descriptors"},
		{"blobs never claimed", func(t *testing.T, p *rawPeer) {
			// Each holds a descriptor in the host until a BLOB frame
			// names it: DefaultMaxPendingBlobs of them, then no more.
			fd := makeBlob(t, bytes.Repeat([]byte{7}, 100), 100, sealed)
			for id := range uint64(DefaultMaxPendingBlobs + 1) {
				require.NoError(t, p.sendCtl(blobMsg(id+1), fd))
			}
			_ = unix.Close(fd)
		}, 0, "not claimed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, p := newRawPeer(t, hostileConfig(), Config{MaxPayload: 1 << 20})
			transporttest.Watchdog(t, 30*time.Second, host)
			tc.act(t, p)
			// Good frames are held until the end, so that a repeated
			// reference finds its first use still outstanding.
			held := make([]transport.Frame, tc.good)
			for i := range held {
				require.NoError(t, recvWithin(t, host, &held[i]))
			}
			defer func() {
				for i := range held {
					host.Release(&held[i])
				}
			}()
			var f transport.Frame
			err := recvWithin(t, host, &f)
			require.ErrorIs(t, err, plexus.ErrProtocolViolation)
			require.ErrorContains(t, err, tc.msg)
			require.Nil(t, f.Payload)
			// Sticky, and Send reports it too.
			require.ErrorIs(t, recvWithin(t, host, &f), plexus.ErrProtocolViolation)
			require.ErrorIs(t, host.Send(new(wire.Desc), []byte("x")), plexus.ErrProtocolViolation)
			// The peer learns: its end of the control socket reads EOF.
			if p.ctl >= 0 {
				require.NoError(t, unix.SetsockoptTimeval(p.ctl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}))
				n, _, err := unix.Recvfrom(p.ctl, make([]byte, 64), 0)
				require.NoError(t, err)
				require.Zero(t, n, "the host shut its control socket down")
			}
			require.NoError(t, host.Close())
		})
	}
}

// TestBlobMemoryBounded: the peer's one-shot blobs that this side holds
// mapped (frames not yet released) stay within Config.MaxBlobMemory; the
// blob that would go over it ends the link with RESOURCE_EXHAUSTED, and
// its descriptor and mapping are not kept.
func TestBlobMemoryBounded(t *testing.T) {
	const blob = 1 << 20
	host, p := newRawPeer(t, hostileConfig(), Config{MaxPayload: 4 << 20, MaxBlobMemory: 3 * blob})
	transporttest.Watchdog(t, 30*time.Second, host)
	sealed := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	for id := uint64(1); id <= 4; id++ {
		fd := makeBlob(t, bytes.Repeat([]byte{byte(id)}, blob), blob, sealed)
		require.NoError(t, p.sendCtl(blobMsg(id), fd))
		_ = unix.Close(fd)
		require.NoError(t, p.push(blobDesc(id, 0, blob)))
	}
	held := make([]transport.Frame, 3)
	for i := range held {
		require.NoError(t, recvWithin(t, host, &held[i]))
		require.Len(t, held[i].Payload, blob)
		require.Equal(t, byte(i+1), held[i].Payload[blob-1])
	}
	var f transport.Frame
	err := recvWithin(t, host, &f)
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	require.ErrorContains(t, err, "MaxBlobMemory")
	for i := range held {
		host.Release(&held[i])
	}
	require.NoError(t, host.Close())
}

// blobFds counts this process's open descriptors of memfds.
func blobFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "/memfd:") {
			n++
		}
	}
	return n
}

// TestOneShotBlobDescriptorsBounded: a peer sending one-shot blobs no
// larger than this side's largest slot, held by the receiver, does not
// make it keep a descriptor for each (only blobs it could forward by
// reference, above the largest slot, keep theirs while held).
func TestOneShotBlobDescriptorsBounded(t *testing.T) {
	host, p := newRawPeer(t, hostileConfig(), Config{})
	transporttest.Watchdog(t, 30*time.Second, host)
	sealed := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	before := blobFds(t)
	const small = 40
	for id := uint64(1); id <= small+1; id++ {
		size := 200 // below the host's largest slot (256)
		if id == small+1 {
			size = 8192
		}
		fd := makeBlob(t, bytes.Repeat([]byte{byte(id)}, size), size, sealed)
		require.NoError(t, p.sendCtl(blobMsg(id), fd))
		_ = unix.Close(fd)
		require.NoError(t, p.push(blobDesc(id, 0, uint32(size))))
	}
	held := make([]transport.Frame, small+1)
	for i := range held {
		require.NoError(t, recvWithin(t, host, &held[i]))
		require.Equal(t, byte(i+1), held[i].Payload[0])
	}
	require.Equal(t, before+1, blobFds(t), "only the blob above the largest slot keeps its descriptor while held")
	for i := range held {
		host.Release(&held[i])
	}
	require.Equal(t, before, blobFds(t), "and gives it back with the frame")
}
