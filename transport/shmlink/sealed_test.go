//go:build linux

package shmlink

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// memfdInode is the inode of the memfd that the mapping holding p maps,
// from /proc/self/maps; 0 if p is not in a memfd mapping.
func memfdInode(t *testing.T, p []byte) uint64 {
	t.Helper()
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))))
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(sc.Text(), "memfd:"+blobName) {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		if addr >= a && addr < b {
			ino, err := strconv.ParseUint(fields[4], 10, 64)
			require.NoError(t, err)
			return ino
		}
	}
	return 0
}

// memfdHolds counts this process's mappings and descriptors of the memfd
// with inode ino.
func memfdHolds(t *testing.T, ino uint64) int {
	t.Helper()
	n := 0
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[4] == strconv.FormatUint(ino, 10) && strings.Contains(line, "memfd:") {
			n++
		}
	}
	fds, err := filepath.Glob("/proc/self/fd/*")
	require.NoError(t, err)
	for _, fd := range fds {
		var st syscall.Stat_t
		if syscall.Stat(fd, &st) == nil && st.Ino == ino && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			n++
		}
	}
	return n
}

func pattern16(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>12)
	}
	return b
}

func sendRaw(t *testing.T, tr *Transport, p []byte) {
	t.Helper()
	var d wire.Desc
	d.Start(wire.KindData, 1, wire.FlagMsg)
	require.NoError(t, tr.Send(&d, p))
}

// TestSealedFanOut: a sealed blob sent to four peers crosses by reference
// (no byte copied, one memfd), every receiver reads the same bytes in
// place, and once every side let go nothing of it is left in the process.
func TestSealedFanOut(t *testing.T) {
	const size = 16 << 20
	want := pattern16(size)
	sb, err := Seal(want)
	require.NoError(t, err)
	ino := memfdInode(t, sb.Bytes())
	require.NotZero(t, ino, "Seal maps a memfd")

	var frames []transport.Frame
	var peers []*Transport
	for range 4 {
		h, p := pair(t, shm.Config{}, Config{MaxPayload: 32 << 20})
		sendRaw(t, h, sb.Bytes())
		var f transport.Frame
		require.NoError(t, p.Recv(&f))
		require.True(t, bytes.Equal(want, f.Payload), "the receiver reads the sealed bytes")
		require.Equal(t, ino, memfdInode(t, f.Payload), "in the same memfd")
		st := h.Stats().Blobs
		require.EqualValues(t, 1, st.Shared)
		require.Zero(t, st.Copied, "no byte copied by the sender")
		frames = append(frames, f)
		peers = append(peers, p)
	}
	require.Equal(t, 2+4*2, memfdHolds(t, ino), "the sealed view and its descriptor, and each receiver's mapping and descriptor")
	sb.Release()
	for i := range frames {
		require.True(t, bytes.Equal(want[:4096], frames[i].Payload[:4096]), "a receiver's view outlives the sender's")
		peers[i].Release(&frames[i])
	}
	require.Zero(t, memfdHolds(t, ino), "every mapping and descriptor of the blob is gone")
}

// TestSealedForward: a one-shot blob received from one peer is sent on to
// another by reference: the forwarding side copies nothing, the second
// peer maps the first peer's memfd, and the bytes survive the first
// frame's release (each holder keeps its own reference).
func TestSealedForward(t *testing.T) {
	const size = 4 << 20
	want := pattern16(size)
	aHost, aPlugin := pair(t, shm.Config{}, Config{BlobCache: -1, MaxPayload: 8 << 20}) // one-shot blobs
	bHost, bPlugin := pair(t, shm.Config{}, Config{MaxPayload: 8 << 20})
	sendRaw(t, aPlugin, want)
	var in transport.Frame
	require.NoError(t, aHost.Recv(&in))
	ino := memfdInode(t, in.Payload)
	require.NotZero(t, ino)

	sendRaw(t, bHost, in.Payload)
	st := bHost.Stats().Blobs
	require.EqualValues(t, 1, st.Shared, "forwarded by reference")
	require.Zero(t, st.Copied)
	aHost.Release(&in)

	var out transport.Frame
	require.NoError(t, bPlugin.Recv(&out))
	require.Equal(t, ino, memfdInode(t, out.Payload), "the second peer maps the first peer's memfd")
	require.True(t, bytes.Equal(want, out.Payload))
	require.EqualValues(t, size, aPlugin.Stats().Blobs.Copied, "the one copy: the first peer's, into its one-shot blob")
	bPlugin.Release(&out)
	require.Zero(t, memfdHolds(t, ino), "released everywhere: nothing of it is left")
}

// TestSealedNotForBuffers: a payload in a recycled blob buffer, which its
// sender may write again once released, is copied, never forwarded by
// reference; and Seal refuses an empty payload.
func TestSealedNotForBuffers(t *testing.T) {
	aHost, aPlugin := pair(t, shm.Config{}, Config{})
	bHost, bPlugin := pair(t, shm.Config{}, Config{})
	want := pattern16(2 << 20)
	sendRaw(t, aPlugin, want)
	var in transport.Frame
	require.NoError(t, aHost.Recv(&in))
	require.EqualValues(t, 1, aPlugin.Stats().Blobs.Created, "sent in a recycled buffer")
	sendRaw(t, bHost, in.Payload)
	aHost.Release(&in)
	require.Zero(t, bHost.Stats().Blobs.Shared)
	require.EqualValues(t, len(want), bHost.Stats().Blobs.Copied)
	var out transport.Frame
	require.NoError(t, bPlugin.Recv(&out))
	require.True(t, bytes.Equal(want, out.Payload))
	bPlugin.Release(&out)

	_, err := Seal(nil)
	require.Error(t, err)
}

// TestSealAlreadySealed: Seal of bytes in sealed memory (a received
// one-shot blob being passed on) returns them as they are, no copy.
func TestSealAlreadySealed(t *testing.T) {
	aHost, aPlugin := pair(t, shm.Config{}, Config{BlobCache: -1, MaxPayload: 32 << 20})
	want := pattern16(16 << 20) // above the largest slot
	sendRaw(t, aPlugin, want)
	var in transport.Frame
	require.NoError(t, aHost.Recv(&in))
	defer aHost.Release(&in)
	require.True(t, inSealed(in.Payload), "a one-shot blob received is sealed memory")
	got, release, err := aHost.Seal(in.Payload)
	require.NoError(t, err)
	defer release()
	require.Equal(t, addrOf(in.Payload), addrOf(got), "the same bytes, not a sealed copy")

	fresh, release2, err := aHost.Seal(want)
	require.NoError(t, err)
	defer release2()
	require.NotEqual(t, addrOf(want), addrOf(fresh), "heap bytes are sealed into a copy")
	require.True(t, inSealed(fresh))
}

// addrOf is the address of p's first byte (testify compares pointers by
// what they point to).
func addrOf(p []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(p))) }
