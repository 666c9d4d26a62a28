//go:build linux

package shmlink

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// TestZeroAllocs: in steady state, Send+Recv+Release of an inline payload,
// of a 1 KiB payload copied into a slot, of a 12-byte buffer from Alloc and
// of a 1 KiB buffer from Alloc sent by reference allocate nothing.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	a, b := pair(t, shm.Config{}, Config{})
	transporttest.Watchdog(t, 60*time.Second, a, b)
	small := bytes.Repeat([]byte{1}, 20)
	kib := bytes.Repeat([]byte{2}, 1024)
	var d wire.Desc
	var f transport.Frame
	var failed error
	roundTrip := func(p []byte, want int) {
		d.Reset()
		d.SetKind(2)
		if err := a.Send(&d, p); err != nil {
			failed = err
			return
		}
		if err := b.Recv(&f); err != nil {
			failed = err
			return
		}
		if len(f.Payload) != want {
			failed = errors.New("wrong payload length")
		}
		b.Release(&f)
	}
	for _, c := range []struct {
		name string
		op   func()
	}{
		{"inline", func() { roundTrip(small, len(small)) }},
		{"slot copy", func() { roundTrip(kib, len(kib)) }},
		{"alloc small", func() {
			p, err := a.Alloc(12)
			if err != nil {
				failed = err
				return
			}
			p[0] = 5
			roundTrip(p, 12)
		}},
		{"alloc", func() {
			p, err := a.Alloc(1024)
			if err != nil {
				failed = err
				return
			}
			p[0], p[1023] = 3, 4
			roundTrip(p, 1024)
		}},
	} {
		for range 100 {
			c.op()
		}
		allocs := testing.AllocsPerRun(1000, c.op)
		require.NoError(t, failed, c.name)
		require.Zero(t, allocs, "%s: allocations per Send+Recv+Release", c.name)
	}
	own, peer := a.Pools()
	require.Equal(t, own.NumSlots(), own.FreeSlots())
	require.Equal(t, peer.NumSlots(), peer.FreeSlots())
}

// tinyConfig gives the host a pool of n 1 KiB slots and nothing else.
func tinyConfig(n int, wait time.Duration) shm.Config {
	return shm.Config{
		RingCapacity:  64,
		HostClasses:   []shm.Class{{Size: 1024, Count: n}},
		PluginClasses: []shm.Class{{Size: 1024, Count: 4}},
		Wait:          wait,
	}
}

func payload(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000) }

func sendAsync(tr *Transport, p []byte) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- tr.Send(new(wire.Desc), p) }()
	return errc
}

// TestBackpressureBlocksUntilRelease: a receiver that holds frames stalls
// the sender once its pool is used up; releasing one frame lets it go on.
func TestBackpressureBlocksUntilRelease(t *testing.T) {
	host, plugin := pair(t, tinyConfig(4, 30*time.Second), Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	held := make([]transport.Frame, 4)
	for i := range held {
		require.NoError(t, host.Send(new(wire.Desc), payload(i)))
		require.NoError(t, plugin.Recv(&held[i]))
	}
	errc := sendAsync(host, payload(4))
	select {
	case err := <-errc:
		t.Fatalf("Send with the pool used up returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	plugin.Release(&held[0])
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Send still blocked after the receiver released a slot")
	}
	var f transport.Frame
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, payload(4), f.Payload)
	plugin.Release(&f)
	for i := 1; i < len(held); i++ {
		require.Equal(t, payload(i), held[i].Payload)
		plugin.Release(&held[i])
	}
	own, _ := host.Pools()
	require.Equal(t, 4, own.FreeSlots())
}

// TestBackpressureExhausted: with a short wait, a sender that cannot get a
// slot fails with ResourceExhausted; nothing is sent, nothing is lost, and
// the link goes on working.
func TestBackpressureExhausted(t *testing.T) {
	host, plugin := pair(t, tinyConfig(2, 100*time.Millisecond), Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	for i := range 2 {
		require.NoError(t, host.Send(new(wire.Desc), payload(i)))
	}
	err := host.Send(new(wire.Desc), payload(2))
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	_, err = host.Alloc(1000)
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	// Inline frames need no slot.
	require.NoError(t, host.Send(new(wire.Desc), []byte("inline")))

	var f transport.Frame
	for i := range 2 {
		require.NoError(t, plugin.Recv(&f))
		require.Equal(t, payload(i), f.Payload)
		plugin.Release(&f)
	}
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, []byte("inline"), f.Payload)
	plugin.Release(&f)
	require.NoError(t, host.Send(new(wire.Desc), payload(3)))
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, payload(3), f.Payload)
	plugin.Release(&f)
}

// TestCloseWithOutstandingFrames: Close with slot frames still held keeps
// the segment mapped until the last one is released; a Release after Close
// is safe and still frees the slot; Alloc'd buffers can be freed after it.
func TestCloseWithOutstandingFrames(t *testing.T) {
	before := memfdUsage(t)
	host, plugin, err := Pair(tinyConfig(4, time.Second), Config{})
	require.NoError(t, err)
	defer plugin.Close()
	var frames [3]transport.Frame
	for i := range frames {
		require.NoError(t, host.Send(new(wire.Desc), payload(i)))
		require.NoError(t, plugin.Recv(&frames[i]))
	}
	buf, err := plugin.Alloc(500)
	require.NoError(t, err)
	lease, err := plugin.Alloc(1 << 20) // above the largest slot: a blob lease
	require.NoError(t, err)
	require.NoError(t, plugin.Close())
	require.NoError(t, plugin.Close(), "Close is idempotent")
	var f transport.Frame
	require.ErrorIs(t, plugin.Recv(&f), plexus.ErrLinkClosed)
	require.ErrorIs(t, plugin.Send(new(wire.Desc), buf), plexus.ErrLinkClosed, "Send takes the buffer and fails")
	require.False(t, plugin.torn.Load(), "unmapped under live frames")
	for i := range frames {
		require.Equal(t, payload(i), frames[i].Payload, "a view stays valid after Close")
		plugin.Release(&frames[i])
	}
	require.True(t, plugin.torn.Load(), "the last Release unmaps")
	lease[0] = 1
	plugin.Free(lease)
	own, _ := host.Pools()
	require.Equal(t, 4, own.FreeSlots(), "Releases after Close freed the host's slots")
	require.NoError(t, host.Close())
	require.Equal(t, before, memfdUsage(t))
}

// TestBlobOffsets: blobs sent from Alloc'd buffers at an offset, and a
// prefix of a lease, arrive intact; a raw blob at an unaligned offset too.
func TestBlobOffsets(t *testing.T) {
	host, plugin := pair(t, tinyConfig(4, time.Second), Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	src := make([]byte, 3<<20)
	for i := range src {
		src[i] = byte(i * 7)
	}
	buf, err := host.Alloc(len(src))
	require.NoError(t, err)
	copy(buf, src)
	require.NoError(t, host.Send(new(wire.Desc), buf[5000:5000+(1<<20)]))
	var f transport.Frame
	require.NoError(t, plugin.Recv(&f))
	require.True(t, bytes.Equal(src[5000:5000+(1<<20)], f.Payload))
	plugin.Release(&f)

	// A raw peer's blob with an unaligned offset.
	h2, p := newRawPeer(t, hostileConfig(), Config{})
	fd := makeBlob(t, src, len(src), unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	require.NoError(t, p.sendCtl(blobMsg(77), fd))
	_ = unix.Close(fd)
	require.NoError(t, p.push(blobDesc(77, 12345, 100000)))
	require.NoError(t, recvWithin(t, h2, &f))
	require.True(t, bytes.Equal(src[12345:12345+100000], f.Payload))
	require.Zero(t, f.Desc.Flags()&0x0f)
	require.Equal(t, make([]byte, 28), f.Desc[36:])
	h2.Release(&f)
}

// memfdUsage counts this process's descriptors that are memfds and its
// mappings of memfds: a leaked blob or segment shows in one or the other.
type usage struct{ Fds, Maps int }

func memfdUsage(t testing.TB) usage {
	u, err := readUsage()
	require.NoError(t, err)
	return u
}

func readUsage() (usage, error) {
	var u usage
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return u, err
	}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "/memfd:") {
			u.Fds++
		}
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, "/memfd:") {
			u.Maps++
		}
	}
	return u, nil
}

// TestManySlotWaiters: thousands of goroutines waiting for 8 slots at once
// all get one in turn. (Before waiters were admitted one at a time, each
// freed slot woke every waiter to race for it, and this took 40 times as
// long; and a waiter that found a slot could withdraw the announcement
// that others still waited, leaving them asleep for the whole wait.)
func TestManySlotWaiters(t *testing.T) {
	const senders = 3000
	host, plugin := pair(t, tinyConfig(8, time.Minute), Config{})
	transporttest.Watchdog(t, 50*time.Second, host, plugin)
	errc := make(chan error, senders)
	for s := range senders {
		go func() {
			var d wire.Desc
			d.SetChannel(uint64(s))
			errc <- host.Send(&d, payload(s))
		}()
	}
	start := time.Now()
	var f transport.Frame
	for range senders {
		require.NoError(t, plugin.Recv(&f))
		require.Equal(t, payload(int(f.Desc.Channel())), f.Payload)
		plugin.Release(&f)
	}
	for range senders {
		require.NoError(t, <-errc)
	}
	t.Logf("%d frames through 8 slots, one sending goroutine each, in %v", senders, time.Since(start))
}

// TestSlotAt: the pool finds the slot of any byte of any class's slots,
// and nothing else.
func TestSlotAt(t *testing.T) {
	host, _ := pair(t, shm.Config{
		HostClasses: []shm.Class{{Size: 64, Count: 3}, {Size: 4096, Count: 2}, {Size: 8192, Count: 1}},
	}, Config{})
	own, _ := host.Pools()
	var slots []shm.Slot
	for {
		s, err := own.Alloc(1)
		if err != nil {
			break
		}
		slots = append(slots, s)
	}
	require.Len(t, slots, 6)
	for _, s := range slots {
		for _, off := range []int{0, 1, len(s.Buf) - 1} {
			idx, got, room, ok := own.SlotAt(s.Buf[off:])
			require.True(t, ok)
			require.Equal(t, s.Index, idx)
			require.Equal(t, off, got)
			require.Equal(t, len(s.Buf)-off, room)
		}
		idx, got, _, ok := own.SlotAt(s.Buf[:0]) // empty, but with capacity
		require.True(t, ok)
		require.Equal(t, s.Index, idx)
		require.Zero(t, got)
		_, err := own.Free(s.Index, s.Gen)
		require.NoError(t, err)
	}
	_, _, _, ok := own.SlotAt(make([]byte, 10))
	require.False(t, ok)
	_, _, _, ok = own.SlotAt(nil)
	require.False(t, ok)
	// The pool's header lies inside the region but in no slot.
	first := slots[0].Buf
	hdr := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&first[0]), -4096)), 1)
	_, _, _, ok = own.SlotAt(hdr)
	require.False(t, ok)
}

// TestLargeSlotsHeldBlobInstead: while the receiver holds every slot of
// the largest class (two of 1 MiB by default), a frame that needs one
// goes as a blob at once rather than waiting for one (and failing once
// the wait is over, here 30 s); it arrives whole, and the next one takes
// a slot again once one is free.
func TestLargeSlotsHeldBlobInstead(t *testing.T) {
	host, plugin := pair(t, shm.Config{Wait: 30 * time.Second}, Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	big := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100<<10) } // > 64 KiB: the 1 MiB class
	var held [2]transport.Frame
	for i := range held {
		require.NoError(t, host.Send(new(wire.Desc), big(i)))
		require.NoError(t, plugin.Recv(&held[i]))
	}
	own, _ := host.Pools()
	free := own.FreeSlots()
	start := time.Now()
	require.NoError(t, host.Send(new(wire.Desc), big(2)))
	require.Less(t, time.Since(start), 10*time.Second, "it did not wait for a slot")
	require.Equal(t, free, own.FreeSlots(), "no slot taken: a blob")
	var f transport.Frame
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, big(2), f.Payload)
	plugin.Release(&f)
	for i := range held {
		require.Equal(t, big(i), held[i].Payload)
		plugin.Release(&held[i])
	}
	require.NoError(t, host.Send(new(wire.Desc), big(3)))
	require.NoError(t, plugin.Recv(&f))
	require.Equal(t, big(3), f.Payload)
	require.Equal(t, free+len(held)-1, own.FreeSlots(), "a slot again, now that they are free")
	plugin.Release(&f)
}
