package shm

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openCopy opens the segment's descriptors a second time in this process,
// as the plugin would after inheriting them.
func openCopy(t *testing.T, seg *Segment) (*Segment, error) {
	return openCopyWait(t, seg, 200*time.Millisecond)
}

func openCopyWait(t *testing.T, seg *Segment, wait time.Duration) (*Segment, error) {
	t.Helper()
	files, err := seg.Files()
	require.NoError(t, err)
	var fds [5]int
	for i, f := range files {
		nfd, err := unix.Dup(int(f.Fd()))
		require.NoError(t, err)
		fds[i] = nfd
		f.Close()
	}
	return Open(Fds{Mem: fds[0], Bells: [2][2]int{{fds[1], fds[2]}, {fds[3], fds[4]}}}, Config{Wait: wait})
}

func TestOpenSameLayout(t *testing.T) {
	seg, err := Create(smallConfig())
	require.NoError(t, err)
	defer seg.Close()
	peer, err := openCopy(t, seg)
	require.NoError(t, err)
	defer peer.Close()
	require.Equal(t, seg.m.layout, peer.m.layout)
	require.Equal(t, smallConfig().HostClasses, peer.m.pools[HostToPlugin].Classes())
	require.Equal(t, smallConfig().PluginClasses, peer.m.pools[PluginToHost].Classes())

	var st unix.Stat_t
	require.NoError(t, unix.Fstat(seg.memfd, &st))
	require.Equal(t, int64(seg.m.layout.TotalSize), st.Size)
	seals, err := unix.FcntlInt(uintptr(seg.memfd), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	require.Equal(t, requiredSeals, seals&requiredSeals)
	require.Error(t, unix.Ftruncate(seg.memfd, st.Size*2), "the segment cannot grow")
	require.Error(t, unix.Ftruncate(seg.memfd, 4096), "the segment cannot shrink")
}

func TestOpenRejects(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name  string
		poke  func(hdr []byte)
		check func(t *testing.T, err error)
	}{
		{"bad magic", func(h []byte) { le.PutUint64(h[hdrMagic:], 0xdeadbeef) }, func(t *testing.T, err error) {
			var le *LayoutError
			require.ErrorAs(t, err, &le)
			require.Equal(t, "magic", le.Field)
			require.Contains(t, err.Error(), "not a plexus segment")
		}},
		{"version mismatch", func(h []byte) { le.PutUint32(h[hdrVersion:], Version+1) }, func(t *testing.T, err error) {
			var ve *VersionError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, uint32(Version+1), ve.Got)
			require.Contains(t, err.Error(), "segment version 3, this build speaks version 2")
		}},
		{"version 1: rings published by the tail", func(h []byte) { le.PutUint32(h[hdrVersion:], 1) }, func(t *testing.T, err error) {
			var ve *VersionError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, err.Error(), "segment version 1, this build speaks version 2")
		}},
		{"size does not match file", func(h []byte) { le.PutUint64(h[hdrTotalSize:], le.Uint64(h[hdrTotalSize:])+4096) }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "total size")
		}},
		{"ring beyond file", func(h []byte) { le.PutUint64(h[hdrRings:], 1<<40) }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "ring host->plugin")
		}},
		{"pools overlap", func(h []byte) { le.PutUint64(h[hdrPools+16:], le.Uint64(h[hdrPools:])) }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "overlaps")
		}},
		{"ring capacity not a power of two", func(h []byte) { le.PutUint32(h[hdrRings+8:], 3) }, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "power of two")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seg, err := Create(smallConfig())
			require.NoError(t, err)
			defer seg.Close()
			tc.poke(seg.m.mem)
			peer, err := openCopy(t, seg)
			require.Nil(t, peer)
			require.ErrorIs(t, err, ErrProtocol)
			tc.check(t, err)
		})
	}
}

func TestOpenRejectsForeignFds(t *testing.T) {
	seg, err := Create(smallConfig())
	require.NoError(t, err)
	defer seg.Close()
	files, err := seg.Files()
	require.NoError(t, err)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	dup := func(f *os.File) int {
		fd, err := unix.Dup(int(f.Fd()))
		require.NoError(t, err)
		return fd
	}
	bells := func() [2][2]int {
		return [2][2]int{{dup(files[1]), dup(files[2])}, {dup(files[3]), dup(files[4])}}
	}

	t.Run("regular file", func(t *testing.T) {
		f, err := os.CreateTemp(t.TempDir(), "notseg")
		require.NoError(t, err)
		_, err = Open(Fds{Mem: dup(f), Bells: bells()}, Config{})
		f.Close()
		require.ErrorIs(t, err, ErrNotSegment)
	})
	t.Run("unsealed memfd of our name", func(t *testing.T) {
		fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC)
		require.NoError(t, err)
		require.NoError(t, unix.Ftruncate(fd, int64(seg.m.layout.TotalSize)))
		_, err = Open(Fds{Mem: fd, Bells: bells()}, Config{})
		require.ErrorIs(t, err, ErrNotSegment)
		require.ErrorContains(t, err, "not sealed")
	})
	t.Run("memfd as a doorbell", func(t *testing.T) {
		b := bells()
		b[1][0] = dup(files[0])
		_, err := Open(Fds{Mem: dup(files[0]), Bells: b}, Config{})
		require.ErrorIs(t, err, ErrNotSegment)
		require.ErrorContains(t, err, "eventfd")
	})
	t.Run("closed descriptor", func(t *testing.T) {
		_, err := Open(Fds{Mem: 1 << 20, Bells: bells()}, Config{})
		require.ErrorIs(t, err, ErrNotSegment)
	})
}

func TestSendRecvSameProcess(t *testing.T) {
	seg, err := Create(smallConfig())
	require.NoError(t, err)
	defer seg.Close()
	peer, err := openCopy(t, seg)
	require.NoError(t, err)
	defer peer.Close()
	host, err := seg.Endpoint()
	require.NoError(t, err)
	plug, err := peer.Endpoint()
	require.NoError(t, err)

	s, err := host.Alloc(1000)
	require.NoError(t, err)
	require.Len(t, s.Buf, 4096, "1000 bytes come from the 4 KiB class")
	copy(s.Buf, "hello through a slot")
	var d [2]wire.Desc
	d[0].SetChannel(1)
	d[0].SetSlotRef(s.Index, s.Gen, 6, 7)
	d[1].SetChannel(3)
	d[1].SetInline([]byte("inline"))
	n, err := host.Send(d[:])
	require.NoError(t, err)
	require.Equal(t, 2, n)

	var got [4]wire.Desc
	n, err = plug.Recv(got[:], time.Second)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	p, err := plug.Resolve(&got[0])
	require.NoError(t, err)
	require.Equal(t, "through", string(p))
	p, err = plug.Resolve(&got[1])
	require.NoError(t, err)
	require.Equal(t, "inline", string(p))

	free := host.Pool().FreeSlots()
	require.NoError(t, plug.Release(&got[0]))
	require.Equal(t, free+1, host.Pool().FreeSlots())
	require.ErrorIs(t, plug.Release(&got[0]), ErrStale, "a second release is a stale reference")
	_, err = plug.Resolve(&got[0])
	require.ErrorIs(t, err, ErrStale, "a released slot can no longer be resolved")

	_, err = plug.Recv(got[:], 20*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	require.Equal(t, host.PeerPid(), os.Getpid())
}

func TestAllocExhaustionWaitsThenFails(t *testing.T) {
	cfg := smallConfig()
	seg, err := Create(cfg)
	require.NoError(t, err)
	defer seg.Close()
	peer, err := openCopy(t, seg)
	require.NoError(t, err)
	defer peer.Close()
	plug, err := peer.Endpoint()
	require.NoError(t, err)
	host, err := seg.Endpoint()
	require.NoError(t, err)

	var held []Slot
	for {
		s, err := plug.Pool().Alloc(1)
		if errors.Is(err, ErrNoSlot) {
			break
		}
		require.NoError(t, err)
		held = append(held, s)
	}
	require.Len(t, held, 4)
	start := time.Now()
	_, err = plug.Alloc(1)
	require.ErrorIs(t, err, ErrExhausted)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "it waited the configured time")

	// A slot freed by the peer while the owner waits ends the wait, long
	// before the (now generous) configured wait.
	patient, err := openCopyWait(t, seg, 20*time.Second)
	require.NoError(t, err)
	defer patient.Close()
	plug, err = patient.Endpoint()
	require.NoError(t, err)
	go func() {
		time.Sleep(50 * time.Millisecond)
		var d wire.Desc
		d.SetSlotRef(held[0].Index, held[0].Gen, 0, 1)
		_ = host.Release(&d)
	}()
	start = time.Now()
	s, err := plug.Alloc(1)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second, "the free ended the wait")
	require.Equal(t, held[0].Index, s.Index)
	require.NotEqual(t, held[0].Gen, s.Gen, "a reused slot has a new generation")
}

func TestCloseWakesParkedReceiver(t *testing.T) {
	seg, err := Create(smallConfig())
	require.NoError(t, err)
	e, err := seg.Endpoint()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		var d [1]wire.Desc
		_, err := e.Recv(d[:], 10*time.Second)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	for k := range 2 {
		for d := range 2 {
			seg.bells[k][d].Close()
		}
	}
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("a receiver parked on a closed bell did not wake")
	}
	seg.Close()
}
