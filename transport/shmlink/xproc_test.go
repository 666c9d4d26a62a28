//go:build linux

package shmlink

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

// Cross-process tests: the parent is the host, a re-executed test binary
// the plugin, which opens the inherited descriptors with OpenInherited.

const (
	kindData  = 2
	kindStop  = 255 // parent -> child: report; child -> parent: the report
	maxSource = 64 << 20
	srcSlack  = 64 << 10
)

func init() {
	xproc.Register("shm-transport-echo", echoChild)
	xproc.Register("shm-transport-hold", holdChild)
}

// source is the pseudo-random data every payload is a window of, the same
// in parent and child for the same seed, so that each side can check what
// it receives byte for byte without shared state.
func source(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, maxSource+srcSlack)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && i+k < len(b); k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// A frame of the exchange names its window of the source in Aux (offset in
// the low 20 bits, length above) and its sequence number in Method.
func windowAux(off, n int) uint64    { return uint64(n)<<20 | uint64(off) }
func window(aux uint64) (off, n int) { return int(aux & (1<<20 - 1)), int(aux >> 20) }
func checkWindow(src []byte, f *transport.Frame) error {
	off, n := window(f.Desc.Aux())
	if n > maxSource || off >= srcSlack {
		return fmt.Errorf("frame %d: bad window %d+%d", f.Desc.Method(), off, n)
	}
	if len(f.Payload) != n || int(f.Desc.Length()) != n {
		return fmt.Errorf("frame %d: %d bytes (length %d), want %d", f.Desc.Method(), len(f.Payload), f.Desc.Length(), n)
	}
	if !bytes.Equal(f.Payload, src[off:off+n]) {
		return fmt.Errorf("frame %d: %d-byte payload differs from what was sent", f.Desc.Method(), n)
	}
	return nil
}

// sendWindow sends src[off:off+n] in one of three ways, by mode: copied
// from caller memory, written into an Alloc'd buffer of exactly n bytes,
// or into a larger one of which a prefix is sent.
func sendWindow(tr *Transport, d *wire.Desc, src []byte, off, n, mode int) error {
	w := src[off : off+n]
	switch mode % 3 {
	case 0:
		return tr.Send(d, w)
	case 1:
		buf, err := tr.Alloc(n)
		if err != nil {
			return err
		}
		copy(buf, w)
		return tr.Send(d, buf)
	default:
		buf, err := tr.Alloc(min(n+n/3+1, tr.MaxPayload()))
		if err != nil {
			return err
		}
		copy(buf, w)
		return tr.Send(d, buf[:n])
	}
}

// echoChild checks every frame against the source and sends it back, until
// the parent asks for a report (kindStop): it then checks that its only
// memfd descriptors and mappings are the segment's and its blob cache's
// (its own recycled buffers and its mappings of the parent's) and answers
// with Aux 0 (so) or 1. When the parent closes the link it closes its end
// and checks that no memfd is left at all.
func echoChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "echo child: "+format+"\n", args...)
		return 1
	}
	seed, _ := strconv.ParseUint(xproc.Arg("SEED"), 10, 64)
	src := source(seed)
	tr, err := OpenInherited(3, shm.Config{Wait: 60 * time.Second}, Config{})
	if err != nil {
		return fail("open: %v", err)
	}
	// The segment is this process's only memfd and mapping besides the
	// blob cache; one-shot blobs come and go. (A snapshot taken now could
	// already hold the first blobs.)
	base := usage{Fds: 1, Maps: 1}
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			if errors.Is(err, plexus.ErrPeerDied) {
				break
			}
			return fail("recv: %v", err)
		}
		var d wire.Desc
		if f.Desc.Kind() == kindStop {
			tr.Release(&f)
			now, err := readUsage()
			if err != nil {
				return fail("%v", err)
			}
			d.SetKind(kindStop)
			if want := base.plus(tr.blobUsage()); now != want {
				fmt.Fprintf(os.Stderr, "echo child: memfd usage %+v, want %+v (the segment and the blob cache)\n", now, want)
				d.SetAux(1)
			}
			if err := tr.Send(&d, nil); err != nil {
				return fail("report: %v", err)
			}
			continue
		}
		if err := checkWindow(src, &f); err != nil {
			return fail("%v", err)
		}
		off, n := window(f.Desc.Aux())
		d.SetKind(kindData)
		d.SetMethod(f.Desc.Method())
		d.SetAux(f.Desc.Aux())
		err := sendWindow(tr, &d, src, off, n, int(f.Desc.Method()/3))
		tr.Release(&f)
		if err != nil {
			return fail("echo %d: %v", f.Desc.Method(), err)
		}
	}
	if err := tr.Close(); err != nil {
		return fail("close: %v", err)
	}
	if u, err := readUsage(); err != nil || u != (usage{}) {
		return fail("after Close: memfd usage %+v (%v), want none", u, err)
	}
	return 0
}

// holdChild receives frames and never releases them, until the link ends;
// it exits on its own after a minute at most.
func holdChild() int {
	tr, err := OpenInherited(3, shm.Config{}, Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold child:", err)
		return 1
	}
	go func() {
		time.Sleep(time.Minute)
		os.Exit(2)
	}()
	for {
		// Each frame's payload stays held: nothing releases it.
		var f transport.Frame
		if err := tr.Recv(&f); err != nil {
			return 0
		}
	}
}

// startChild makes a link, starts helper name on its plugin side, and
// returns the host's Transport (closed at cleanup) and the child.
func startChild(t *testing.T, name string, scfg shm.Config, args map[string]string) (*Transport, *xproc.Child) {
	t.Helper()
	l, err := NewLink(scfg)
	require.NoError(t, err)
	child := xproc.Start(t, name, l.PluginFiles(), args)
	// Our copies of the plugin's files must go, or the control socket
	// would stay open after the child dies.
	l.ClosePluginFiles()
	host, err := l.Transport(Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = host.Close() })
	return host, child
}

// exchangeSizes lists count payload sizes: the boundaries of every
// placement (inline, each slot class, blob) and then sizes log-uniform up
// to max, so that small frames are many and 64 MiB ones a few.
func exchangeSizes(r *rand.Rand, count, max int) []int {
	sizes := []int{0, 1, wire.InlineMax, wire.InlineMax + 1, 256, 257, 4 << 10, 4<<10 + 1,
		64 << 10, 64<<10 + 1, 1 << 20, 1<<20 + 1, max}
	for len(sizes) < count {
		bits := r.IntN(27) // 2^26 = 64 MiB
		sizes = append(sizes, min(r.IntN(1<<bits+1), max))
	}
	r.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	return sizes[:count]
}

// TestCrossProcessEcho: 1,000 payloads of 0 to 64 MiB go to a child
// process and back (inline, slots of every class, blobs; copied and from
// Alloc), checked byte for byte on both sides; afterwards every slot of
// both pools is free and neither process has a memfd or mapping left.
func TestCrossProcessEcho(t *testing.T) {
	count, max := 1000, maxSource
	if raceEnabled {
		count, max = 300, 16<<20
	}
	if testing.Short() {
		count, max = 200, 8<<20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d payloads up to %d bytes", seed, count, max)
	src := source(seed)
	r := rand.New(rand.NewPCG(seed, 1))
	sizes := exchangeSizes(r, count, max)

	before := memfdUsage(t)
	host, child := startChild(t, "shm-transport-echo", shm.Config{Wait: 60 * time.Second},
		map[string]string{"SEED": strconv.FormatUint(seed, 10)})
	transporttest.Watchdog(t, 10*time.Minute, host)
	linked := memfdUsage(t)
	require.Equal(t, usage{Fds: before.Fds + 1, Maps: before.Maps + 1}, linked, "the segment")

	// At most inFlight frames travel at once, so that a fast sender does
	// not pile up gigabytes of blobs ahead of the echo.
	const inFlight = 8
	tokens := make(chan struct{}, inFlight)
	sendErr := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			tokens <- struct{}{}
			off := r.IntN(srcSlack)
			var d wire.Desc
			d.SetKind(kindData)
			d.SetChannel(uint64(i + 1))
			d.SetMethod(uint64(i))
			d.SetAux(windowAux(off, n))
			if err := sendWindow(host, &d, src, off, n, i); err != nil {
				sendErr <- fmt.Errorf("send %d (%d bytes): %w", i, n, err)
				return
			}
		}
		sendErr <- nil
	}()
	start := time.Now()
	total := 0
	var f transport.Frame
	for i := range sizes {
		if err := host.Recv(&f); err != nil {
			select {
			case serr := <-sendErr:
				require.NoError(t, serr)
			default:
			}
			require.NoError(t, err, "frame %d", i)
		}
		require.Equal(t, uint64(i), f.Desc.Method(), "frames arrive in order")
		require.NoError(t, checkWindow(src, &f))
		total += len(f.Payload)
		host.Release(&f)
		<-tokens
	}
	require.NoError(t, <-sendErr)
	t.Logf("%d payloads, %d MiB each way, in %v", count, total>>20, time.Since(start).Round(time.Millisecond))

	// The child reports on its own memfds once it has released everything.
	var d wire.Desc
	d.SetKind(kindStop)
	require.NoError(t, host.Send(&d, nil))
	require.NoError(t, host.Recv(&f))
	require.Equal(t, wire.Kind(kindStop), f.Desc.Kind())
	require.Zero(t, f.Desc.Aux(), "the child has a memfd or mapping left (see its stderr)")
	host.Release(&f)

	require.Zero(t, host.held.Load(), "frames counted as held")
	own, peer := host.Pools()
	require.Equal(t, own.NumSlots(), own.FreeSlots(), "host pool")
	require.Equal(t, peer.NumSlots(), peer.FreeSlots(), "plugin pool")
	require.NoError(t, own.CheckFreeLists())
	require.NoError(t, peer.CheckFreeLists())
	require.Equal(t, linked.plus(host.blobUsage()), memfdUsage(t), "memfds or mappings left after the exchange besides the blob cache")

	require.NoError(t, host.Close())
	require.NoError(t, child.Wait(30*time.Second))
	require.Equal(t, before, memfdUsage(t), "memfds or mappings left after Close")
}

// TestCrossProcessPeerDeathWakesRecv: SIGKILL of the child while the parent
// is parked in Recv makes Recv return PeerDied at once.
func TestCrossProcessPeerDeathWakesRecv(t *testing.T) {
	host, child := startChild(t, "shm-transport-hold", shm.Config{}, nil)
	// A round trip of sorts: the child is up once it took a frame (the
	// slot comes back only when it dies, which does not matter here).
	require.NoError(t, host.Send(new(wire.Desc), []byte("hello")))
	errc := make(chan error, 1)
	go func() {
		var f transport.Frame
		errc <- host.Recv(&f)
	}()
	time.Sleep(200 * time.Millisecond) // long past the spin: Recv is parked
	select {
	case err := <-errc:
		t.Fatalf("Recv returned %v before the peer died", err)
	default:
	}
	start := time.Now()
	require.NoError(t, child.Kill())
	select {
	case err := <-errc:
		lat := time.Since(start)
		t.Logf("Recv returned %v after the kill", lat)
		require.ErrorIs(t, err, plexus.ErrPeerDied)
		require.Less(t, lat, time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still parked 10 s after the peer was killed")
	}
	_ = child.Wait(10 * time.Second)
}

// TestCrossProcessPeerDeathWakesSender: SIGKILL of a child that holds every
// slot of the parent's pool makes the parent's Send, blocked waiting for a
// slot, return PeerDied at once.
func TestCrossProcessPeerDeathWakesSender(t *testing.T) {
	host, child := startChild(t, "shm-transport-hold", tinyConfig(4, time.Minute), nil)
	for i := range 4 {
		require.NoError(t, host.Send(new(wire.Desc), payload(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- host.Send(new(wire.Desc), payload(4)) }()
	go func() {
		defer wg.Done()
		_, err := host.Alloc(1000)
		errs <- err
	}()
	time.Sleep(200 * time.Millisecond) // both are parked on the space doorbell
	select {
	case err := <-errs:
		t.Fatalf("a sender returned %v with the pool used up", err)
	default:
	}
	start := time.Now()
	require.NoError(t, child.Kill())
	for range 2 {
		select {
		case err := <-errs:
			lat := time.Since(start)
			t.Logf("blocked sender returned after %v", lat)
			require.ErrorIs(t, err, plexus.ErrPeerDied)
			require.Less(t, lat, time.Second)
		case <-time.After(10 * time.Second):
			t.Fatal("sender still blocked 10 s after the peer was killed")
		}
	}
	wg.Wait()
	_ = child.Wait(10 * time.Second)
}
