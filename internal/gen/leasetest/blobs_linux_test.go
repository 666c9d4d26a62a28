package leasetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
	"github.com/stretchr/testify/require"
)

// TestBlobsSHM runs every method over shared memory, where a lease is sent
// without a copy: the receiver's view must lie in the very slot (of the
// sender's pool, as the receiver maps it) or memfd (by inode) that the
// sender filled. The "Copied" case shows that a copy would be seen. At the
// end every slot of both pools is free again, so no lease leaked,
// including those of failed calls.
func TestBlobsSHM(t *testing.T) {
	a, b, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	hostOwn, hostPeer := a.Pools()
	pluginOwn, pluginPeer := b.Pools()
	host, plugin, c := runAll(t, a, b, locators{
		hostOwn:    slotOrMemfd(t, "host", hostOwn),
		pluginPeer: slotOrMemfd(t, "host", pluginPeer), // the host's pool, mapped by the plugin
		pluginOwn:  slotOrMemfd(t, "plugin", pluginOwn),
		hostPeer:   slotOrMemfd(t, "plugin", hostPeer),
		located:    true,
	}, sizes)

	// A lease of another link is copied, and the call still releases it
	// (on its own link).
	a2, b2, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	other := session.New(a2, session.Config{Role: session.Initiator})
	peer2 := session.New(b2, session.Config{Role: session.Acceptor})
	t.Cleanup(func() { _ = other.Close(); _ = peer2.Close() })
	otherOwn, _ := a2.Pools()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []int{5000, 1 << 20} {
		l, err := other.Alloc(n)
		require.NoError(t, err)
		pattern(l.Bytes(), 7)
		got, h, err := c.Sum(ctx, l)
		require.NoError(t, err)
		require.Equal(t, []any{n, hash(patterned(n, 7))}, []any{got, h})
	}
	require.Equal(t, otherOwn.NumSlots(), otherOwn.FreeSlots(), "the foreign leases were released on their link")

	for _, p := range []struct {
		name string
		pool *shm.Pool
	}{{"host", hostOwn}, {"plugin", pluginOwn}} {
		// The serving side releases a request after its response went
		// out, so the last slots come back shortly after the calls.
		deadline := time.Now().Add(10 * time.Second)
		for p.pool.FreeSlots() != p.pool.NumSlots() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		require.Equal(t, p.pool.NumSlots(), p.pool.FreeSlots(), "every slot of the %s's pool is free again", p.name)
	}
	_, _ = host, plugin
}

// slotOrMemfd locates b in pool (named by the side that owns it) or, for
// memory outside the segment, by the inode of the memfd it maps.
func slotOrMemfd(t *testing.T, owner string, pool *shm.Pool) locator {
	return func(b []byte) string {
		if cap(b) == 0 {
			return ""
		}
		if idx, _, _, ok := pool.SlotAt(b); ok {
			return fmt.Sprintf("%s slot %d", owner, idx)
		}
		ino, err := memfdInode(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		if err != nil {
			t.Error(err)
		}
		return ino
	}
}

// memfdInode finds the mapping that holds addr in /proc/self/maps and
// returns "memfd <inode>" if it maps a memfd, "" otherwise. Two mappings
// of one memfd (the sender's and the receiver's) have the same inode;
// a copy would be in another memfd.
func memfdInode(addr uintptr) (string, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "", err
	}
	for line := range bytes.Lines(maps) {
		f := strings.Fields(string(line))
		if len(f) < 5 { // anonymous mappings have no sixth field
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < start || uint64(addr) >= end {
			continue
		}
		if len(f) < 6 || !strings.HasPrefix(f[5], "/memfd:") {
			return "", nil
		}
		return "memfd " + f[4], nil
	}
	return "", fmt.Errorf("address %#x is in no mapping", addr)
}

// BenchmarkGeneratedLease: a lease filled in place (copied from a warm
// source, as a decoder or a read would write it) and passed to a
// generated unary method over shared memory, in one process; the handler
// answers its length without reading it. "session" makes the same call
// with Session.Invoke and a hand-written handler, so that the difference
// is what the generated code adds.
func BenchmarkGeneratedLease(b *testing.B) {
	for _, n := range []int{1 << 20, 64 << 20} {
		for _, mode := range []string{"generated", "session"} {
			b.Run(fmt.Sprintf("%dMiB/%s", n>>20, mode), func(b *testing.B) { benchLease(b, n, mode == "generated") })
		}
	}
}

func benchLease(b *testing.B, n int, generated bool) {
	a, p, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(b, err)
	mux := session.NewMux()
	require.NoError(b, RegisterBlobs(mux, newImpl(nowhere, nowhere)))
	raw, err := mux.HandleUnary("bench.Raw", "Size", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(codec.AppendInt(nil, len(req))), nil
	})
	require.NoError(b, err)
	server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	s := session.New(a, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() { _ = s.Close(); _ = server.Close() })
	c := NewBlobsClient(s)
	src := patterned(n, 1)
	ctx := context.Background()
	var resp plexus.Raw
	call := func() {
		l, err := s.Alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		copy(l.Bytes(), src)
		if generated {
			if got, err := c.Size(ctx, l); err != nil || got != n {
				b.Fatal(got, err)
			}
		} else if err := s.Invoke(ctx, raw, l, &resp); err != nil {
			b.Fatal(err)
		}
	}
	// Steady state: the first calls make the blob buffers, whose fresh
	// pages cost far more than the copy (see transport/shmlink's
	// Benchmark64MiB).
	for range 4 {
		call()
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		call()
	}
}
