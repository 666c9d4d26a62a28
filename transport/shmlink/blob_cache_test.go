//go:build linux

package shmlink

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// blobUsage is what this side's blob buffers add to memfdUsage while none
// is out with the caller: a descriptor and a mapping per own buffer, a
// mapping per peer buffer.
func (t *Transport) blobUsage() usage {
	c := &t.blob.cache
	c.mu.Lock()
	own := 0
	for _, l := range c.free {
		own += len(l)
	}
	for _, b := range c.known {
		if b.state != bufFree {
			own++
		}
	}
	c.mu.Unlock()
	pb := &t.blob.peer
	pb.mu.Lock()
	peer := len(pb.bufs)
	pb.mu.Unlock()
	return usage{Fds: own, Maps: own + peer}
}

func (u usage) plus(v usage) usage { return usage{Fds: u.Fds + v.Fds, Maps: u.Maps + v.Maps} }

// cacheBytes is what the sender's cache counts and what the receiver has
// mapped of the peer's buffers.
func (t *Transport) cacheBytes() (own, peer int64) {
	t.blob.cache.mu.Lock()
	own = t.blob.cache.total
	t.blob.cache.mu.Unlock()
	t.blob.peer.mu.Lock()
	peer = t.blob.peer.total
	t.blob.peer.mu.Unlock()
	return own, peer
}

// pattern is n bytes that differ from page to page and by seed; it
// repeats every MiB.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range min(n, 1<<20) {
		p[i] = byte(i>>12) ^ byte(i) ^ seed
	}
	for i := 1 << 20; i < n; i += copy(p[i:], p[:i]) {
	}
	return p
}

func addr(p []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(p))) }

// TestBlobRecycled: the second 64 MiB blob, copied or written through
// Alloc, goes out in the buffer the first one created: no new memfd, no
// descriptor passed, no new mapping on either side; the receiver sees it
// at the address it mapped the first time; after Close nothing is left.
func TestBlobRecycled(t *testing.T) {
	const n = 64 << 20
	before := memfdUsage(t)
	host, plugin := pair(t, shm.Config{}, Config{})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	linked := memfdUsage(t)
	hs, ps := &host.blob.stats, &plugin.blob.stats
	var f transport.Frame
	recv := func(want []byte) uintptr {
		t.Helper()
		require.NoError(t, recvWithin(t, plugin, &f))
		require.True(t, bytes.Equal(want, f.Payload), "payload differs")
		require.Zero(t, f.Desc.Flags()&0x0f, "transport flags reach the session")
		require.Equal(t, make([]byte, 28), f.Desc[36:])
		a := addr(f.Payload)
		plugin.Release(&f)
		return a
	}

	first := pattern(n, 1)
	require.NoError(t, host.Send(new(wire.Desc), first))
	at := recv(first)
	require.EqualValues(t, 1, hs.created.Load())
	require.EqualValues(t, 1, hs.announced.Load())
	require.EqualValues(t, 1, ps.mapped.Load())
	require.EqualValues(t, 1, ps.freed.Load(), "Release sent ctlFree")
	warm := memfdUsage(t)
	require.Equal(t, linked.plus(usage{Fds: 1, Maps: 2}), warm, "one buffer: the host's descriptor and mapping, the plugin's mapping")

	second := pattern(n, 2)
	require.NoError(t, host.Send(new(wire.Desc), second))
	require.Equal(t, at, recv(second), "the plugin's mapping is reused")

	buf, err := host.Alloc(n)
	require.NoError(t, err)
	copy(buf, first)
	require.NoError(t, host.Send(new(wire.Desc), buf))
	require.Equal(t, at, recv(first))

	buf, err = host.Alloc(n)
	require.NoError(t, err)
	host.Free(buf)

	require.EqualValues(t, 1, hs.created.Load(), "buffers created")
	require.EqualValues(t, 3, hs.reused.Load(), "buffers reused")
	require.EqualValues(t, 1, hs.announced.Load(), "descriptors passed")
	require.Zero(t, hs.oneShot.Load())
	require.EqualValues(t, 1, ps.mapped.Load(), "buffers the plugin mapped")
	require.EqualValues(t, 3, ps.freed.Load())
	require.Equal(t, warm, memfdUsage(t), "no memfd or mapping came or went")
	require.Equal(t, warm, linked.plus(host.blobUsage()).plus(plugin.blobUsage()))

	require.NoError(t, host.Close())
	require.NoError(t, plugin.Close())
	require.Equal(t, before, memfdUsage(t), "memfds or mappings left after Close")
}

// TestBlobCacheBound: the cache never holds more than its bound, on the
// sending side and in what the receiver maps; a blob that does not fit
// travels in a one-shot memfd; a buffer of another size evicts the oldest
// free ones, which the receiver forgets.
func TestBlobCacheBound(t *testing.T) {
	const bound = 8 << 20
	before := memfdUsage(t)
	host, plugin := pair(t, shm.Config{}, Config{BlobCache: bound})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	linked := memfdUsage(t)
	hs, ps := &host.blob.stats, &plugin.blob.stats
	checkBound := func() {
		t.Helper()
		own, _ := host.cacheBytes()
		_, peer := plugin.cacheBytes()
		require.LessOrEqual(t, own, int64(bound), "the host's cache")
		require.LessOrEqual(t, peer, int64(bound), "the host's buffers mapped by the plugin")
	}
	held := make([]transport.Frame, 3)
	payloads := make([][]byte, 3)
	for i := range held {
		payloads[i] = pattern(3<<20, byte(i)) // a 4 MiB buffer each
		require.NoError(t, host.Send(new(wire.Desc), payloads[i]))
		require.NoError(t, recvWithin(t, plugin, &held[i]))
		require.True(t, bytes.Equal(payloads[i], held[i].Payload))
		checkBound()
	}
	require.EqualValues(t, 2, hs.created.Load(), "two 4 MiB buffers fill the bound")
	require.EqualValues(t, 1, hs.oneShot.Load(), "the third, with both held, is a one-shot blob")
	for i := range held {
		plugin.Release(&held[i])
	}

	// With one 4 MiB buffer held, an 8 MiB one cannot fit even if the
	// free one went: it stays, and the payload travels one-shot.
	var f transport.Frame
	require.NoError(t, host.Send(new(wire.Desc), payloads[0]))
	require.NoError(t, recvWithin(t, plugin, &held[0]))
	big := pattern(5<<20, 9)
	require.NoError(t, host.Send(new(wire.Desc), big))
	require.NoError(t, recvWithin(t, plugin, &f))
	require.True(t, bytes.Equal(big, f.Payload))
	plugin.Release(&f)
	plugin.Release(&held[0])
	require.Zero(t, hs.evicted.Load(), "nothing evicted in vain")
	require.EqualValues(t, 2, hs.oneShot.Load())

	// Now both 4 MiB buffers are free and go for the 8 MiB one.
	require.NoError(t, host.Send(new(wire.Desc), big))
	require.NoError(t, recvWithin(t, plugin, &f))
	require.True(t, bytes.Equal(big, f.Payload))
	plugin.Release(&f)
	checkBound()
	require.EqualValues(t, 2, hs.evicted.Load())
	require.EqualValues(t, 2, ps.forgotten.Load(), "the plugin unmapped what the host evicted")
	require.EqualValues(t, 3, hs.created.Load())
	require.Equal(t, linked.plus(usage{Fds: 1, Maps: 2}), memfdUsage(t), "only the 8 MiB buffer is left")

	// Larger than the bound: never cached.
	huge := pattern(bound+1, 3)
	require.NoError(t, host.Send(new(wire.Desc), huge))
	require.NoError(t, recvWithin(t, plugin, &f))
	require.True(t, bytes.Equal(huge, f.Payload))
	plugin.Release(&f)
	require.EqualValues(t, 3, hs.oneShot.Load())
	checkBound()

	require.NoError(t, host.Close())
	require.NoError(t, plugin.Close())
	require.Equal(t, before, memfdUsage(t))
}

// TestBlobCacheOff: a negative BlobCache sends every blob in a fresh memfd.
func TestBlobCacheOff(t *testing.T) {
	host, plugin := pair(t, shm.Config{}, Config{BlobCache: -1})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	p := pattern(2<<20, 5)
	var f transport.Frame
	for range 2 {
		require.NoError(t, host.Send(new(wire.Desc), p))
		require.NoError(t, recvWithin(t, plugin, &f))
		require.True(t, bytes.Equal(p, f.Payload))
		plugin.Release(&f)
	}
	require.EqualValues(t, 2, host.blob.stats.oneShot.Load())
	require.Zero(t, host.blob.stats.created.Load())
}

// TestBlobHeldAcrossClose: a received view of a recycled buffer stays
// valid after both sides closed, until Release unmaps it; a buffer from
// Alloc outlives Close until Free; nothing is left afterwards.
func TestBlobHeldAcrossClose(t *testing.T) {
	before := memfdUsage(t)
	host, plugin, err := Pair(shm.Config{}, Config{})
	require.NoError(t, err)
	p := pattern(4<<20, 7)
	require.NoError(t, host.Send(new(wire.Desc), p))
	var f transport.Frame
	require.NoError(t, recvWithin(t, plugin, &f))
	lease, err := host.Alloc(4 << 20)
	require.NoError(t, err)
	require.NoError(t, plugin.Close())
	require.NoError(t, host.Close())
	require.True(t, bytes.Equal(p, f.Payload), "the view is still mapped")
	lease[len(lease)-1] = 1 // still writable
	plugin.Release(&f)
	host.Free(lease)
	require.Equal(t, before, memfdUsage(t))
}

// TestBlobConcurrentSenders: goroutines sending and allocating blobs of
// several sizes at once, with the receiver releasing in another order,
// keep the bound and end with every buffer back and nothing left.
func TestBlobConcurrentSenders(t *testing.T) {
	const bound = 16 << 20
	before := memfdUsage(t)
	host, plugin := pair(t, shm.Config{Wait: 20 * time.Second}, Config{BlobCache: bound})
	transporttest.Watchdog(t, 60*time.Second, host, plugin)
	const senders, each = 4, 12
	errs := make(chan error, senders)
	for g := range senders {
		go func() {
			for i := range each {
				n := (1 << 20) + 1 + (g*each+i)%5*(700<<10)
				var d wire.Desc
				d.SetAux(uint64(n))
				if i%2 == 0 {
					buf, err := host.Alloc(n)
					if err != nil {
						errs <- err
						return
					}
					copy(buf, pattern(n, byte(n)))
					if err := host.Send(&d, buf); err != nil {
						errs <- err
						return
					}
					continue
				}
				if err := host.Send(&d, pattern(n, byte(n))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var held []transport.Frame
	for i := range senders * each {
		var f transport.Frame
		require.NoError(t, recvWithin(t, plugin, &f))
		n := int(f.Desc.Aux())
		require.True(t, bytes.Equal(pattern(n, byte(n)), f.Payload), "frame %d", i)
		held = append(held, f)
		if len(held) == 3 {
			// Release out of order, so that buffers come back shuffled.
			plugin.Release(&held[1])
			plugin.Release(&held[2])
			plugin.Release(&held[0])
			held = held[:0]
		}
		own, _ := host.cacheBytes()
		_, peer := plugin.cacheBytes()
		require.LessOrEqual(t, own, int64(bound))
		require.LessOrEqual(t, peer, int64(bound))
	}
	for i := range held {
		plugin.Release(&held[i])
	}
	for range senders {
		require.NoError(t, <-errs)
	}
	t.Logf("created %d, reused %d, evicted %d, one-shot %d", host.blob.stats.created.Load(),
		host.blob.stats.reused.Load(), host.blob.stats.evicted.Load(), host.blob.stats.oneShot.Load())
	require.Positive(t, host.blob.stats.reused.Load())
	require.NoError(t, host.Close())
	require.NoError(t, plugin.Close())
	require.Equal(t, before, memfdUsage(t))
}
