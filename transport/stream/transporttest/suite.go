package transporttest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// BigPayload is the MaxPayload the suite asks for: large enough to cross
// every buffer boundary, small enough to keep the test fast.
const BigPayload = 4 << 20

// MakePair returns two connected transports with the given MaxPayload.
// It registers their cleanup with t.
type MakePair func(t *testing.T, maxPayload int) (a, b transport.Transport)

// Options selects the optional checks.
type Options struct {
	// ZeroAllocs asserts that Send, Recv and Release of a small frame do
	// not allocate in steady state (skipped under the race detector).
	ZeroAllocs bool
}

// Run runs the suite, each case on a fresh pair.
func Run(t *testing.T, mk MakePair, opt Options) {
	cases := []struct {
		name string
		fn   func(*testing.T, transport.Transport, transport.Transport)
	}{
		{"RoundTrip", testRoundTrip},
		{"RoundTripAlloc", testRoundTripAlloc},
		{"Descriptor", testDescriptor},
		{"ReservedBits", testReservedBits},
		{"ConcurrentSenders", testConcurrentSenders},
		{"Oversize", testOversize},
		{"PeerCloseDrains", testPeerCloseDrains},
		{"PeerCloseWakesRecv", testPeerCloseWakesRecv},
		{"OwnClose", testOwnClose},
		{"SendAfterPeerClose", testSendAfterPeerClose},
		{"AllocFree", testAllocFree},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := mk(t, BigPayload)
			require.Equal(t, BigPayload, a.MaxPayload())
			require.Equal(t, BigPayload, b.MaxPayload())
			Watchdog(t, 60*time.Second, a, b)
			c.fn(t, a, b)
		})
	}
	t.Run("ZeroAllocs", func(t *testing.T) {
		if !opt.ZeroAllocs {
			t.Skip("not claimed for this transport")
		}
		if RaceEnabled {
			t.Skip("sync.Pool drops items under the race detector")
		}
		a, b := mk(t, BigPayload)
		Watchdog(t, 60*time.Second, a, b)
		testZeroAllocs(t, a, b)
	})
}

// Watchdog closes the transports if the test runs longer than d, so that a
// hang turns into failing calls instead of a stuck test binary.
func Watchdog(t testing.TB, d time.Duration, ts ...transport.Transport) {
	timer := time.AfterFunc(d, func() {
		t.Errorf("watchdog: still running after %v, closing the link", d)
		for _, tr := range ts {
			_ = tr.Close()
		}
	})
	t.Cleanup(func() { timer.Stop() })
}

// Fill writes an xorshift pattern that depends on seed and position, so
// that a payload from the wrong frame or a shifted one does not compare
// equal. The conformance suite fills its payloads with it too.
func Fill(p []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// Pattern returns n bytes filled by Fill.
func Pattern(n int, seed uint64) []byte {
	p := make([]byte, n)
	Fill(p, seed)
	return p
}

// sendAsync runs send on its own goroutine (a large frame blocks until the
// receiver reads it) and returns a channel with its error.
func sendAsync(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// requireBytes compares contents only: an empty payload may be nil.
func requireBytes(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if !bytes.Equal(want, got) {
		require.Equal(t, want, got, msgAndArgs...)
	}
}

func recvFrame(t *testing.T, tr transport.Transport) transport.Frame {
	t.Helper()
	var f transport.Frame
	require.NoError(t, tr.Recv(&f))
	require.Equal(t, int(f.Desc.Length()), len(f.Payload))
	return f
}

var sizes = []int{0, 1, wire.InlineMax, wire.InlineMax + 1, 4096, 1 << 20, BigPayload}

func testRoundTrip(t *testing.T, a, b transport.Transport) {
	for _, dir := range []struct {
		name     string
		from, to transport.Transport
	}{{"a->b", a, b}, {"b->a", b, a}} {
		for i, n := range sizes {
			want := Pattern(n, uint64(i))
			var d wire.Desc
			d.SetChannel(uint64(i + 1))
			d.SetKind(2)
			errc := sendAsync(func() error { return dir.from.Send(&d, want) })
			f := recvFrame(t, dir.to)
			require.NoError(t, <-errc, "%s size %d", dir.name, n)
			require.Equal(t, uint64(i+1), f.Desc.Channel())
			require.Equal(t, uint32(n), f.Desc.Length())
			requireBytes(t, want, f.Payload, "%s size %d", dir.name, n)
			require.Equal(t, Pattern(n, uint64(i)), want, "Send changed a caller-owned payload")
			dir.to.Release(&f)
			require.Nil(t, f.Payload)
			dir.to.Release(&f) // a second Release is harmless
		}
	}
}

func testRoundTripAlloc(t *testing.T, a, b transport.Transport) {
	for i, n := range sizes {
		buf, err := a.Alloc(n)
		require.NoError(t, err)
		require.Len(t, buf, n)
		Fill(buf, uint64(i))
		var d wire.Desc
		d.SetAux(uint64(n))
		errc := sendAsync(func() error { return a.Send(&d, buf) })
		f := recvFrame(t, b)
		require.NoError(t, <-errc)
		require.Equal(t, uint64(n), f.Desc.Aux())
		requireBytes(t, Pattern(n, uint64(i)), f.Payload, "size %d", n)
		b.Release(&f)
	}
}

func testDescriptor(t *testing.T, a, b transport.Transport) {
	for i := range 4 {
		var d wire.Desc
		Fill(d[:], uint64(100+i)) // garbage everywhere, then legal values
		d[10], d[11] = 0, 0
		d.SetFlags(0xf0 | wire.FlagInline | wire.FlagSlot)
		if i%2 == 1 {
			d.SetFlags(0x50 | wire.FlagInline)
		}
		sent := d
		payload := Pattern(i*20, uint64(i))
		require.NoError(t, a.Send(&d, payload))

		want := sent
		want.SetFlags(sent.Flags() &^ (wire.FlagInline | wire.FlagSlot))
		clear(want[wire.InlineOffset:])
		want.SetLength(uint32(len(payload)))
		require.Equal(t, want, d, "Send sets exactly the payload fields of d")

		f := recvFrame(t, b)
		require.Equal(t, want, f.Desc)
		require.Equal(t, sent.Channel(), f.Desc.Channel())
		require.Equal(t, sent.Kind(), f.Desc.Kind())
		require.Equal(t, sent.Flags()&0xf0, f.Desc.Flags())
		require.Equal(t, sent.Credit(), f.Desc.Credit())
		require.Equal(t, sent.Method(), f.Desc.Method())
		require.Equal(t, sent.Aux(), f.Desc.Aux())
		requireBytes(t, payload, f.Payload)
		b.Release(&f)
	}
}

func testReservedBits(t *testing.T, a, b transport.Transport) {
	for _, bad := range []func(*wire.Desc){
		func(d *wire.Desc) { d[10] = 1 },
		func(d *wire.Desc) { d[11] = 0x80 },
		func(d *wire.Desc) { d.SetFlags(1 << 2) },
		func(d *wire.Desc) { d.SetFlags(1 << 3) },
	} {
		var d wire.Desc
		bad(&d)
		err := a.Send(&d, []byte("x"))
		require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	}
	// Nothing reached the wire: the next frame is the first one received.
	var d wire.Desc
	d.SetAux(7)
	require.NoError(t, a.Send(&d, []byte("ok")))
	f := recvFrame(t, b)
	require.Equal(t, uint64(7), f.Desc.Aux())
	requireBytes(t, []byte("ok"), f.Payload)
	b.Release(&f)
}

const (
	senders   = 8
	perSender = 2000
)

// concurrentSize mixes empty, inline-sized, small and writev-sized frames.
func concurrentSize(seq int) int {
	switch seq % 16 {
	case 0:
		return 0
	case 5:
		return 5000
	case 11:
		return 20000
	}
	return 8 + (seq*37)%300
}

func testConcurrentSenders(t *testing.T, a, b transport.Transport) {
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 20000)
			for seq := range perSender {
				n := concurrentSize(seq)
				p := buf[:n]
				Fill(p, uint64(s)<<32|uint64(seq))
				var d wire.Desc
				d.SetChannel(uint64(s + 1))
				d.SetAux(uint64(seq))
				d.SetMethod(uint64(n) ^ 0xabcdef)
				if err := a.Send(&d, p); err != nil {
					errs <- fmt.Errorf("sender %d frame %d: %w", s, seq, err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	want := make([]byte, 20000)
	for range senders * perSender {
		var f transport.Frame
		if err := b.Recv(&f); err != nil {
			select {
			case serr := <-errs:
				require.NoError(t, serr)
			default:
			}
			require.NoError(t, err)
		}
		s := int(f.Desc.Channel()) - 1
		require.True(t, s >= 0 && s < senders, "channel %d", f.Desc.Channel())
		seq := int(f.Desc.Aux())
		require.Equal(t, next[s], seq, "sender %d out of order", s)
		next[s]++
		n := concurrentSize(seq)
		require.Equal(t, uint64(n)^0xabcdef, f.Desc.Method())
		require.Len(t, f.Payload, n)
		w := want[:n]
		Fill(w, uint64(s)<<32|uint64(seq))
		requireBytes(t, w, f.Payload, "sender %d frame %d corrupted", s, seq)
		b.Release(&f)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func testOversize(t *testing.T, a, b transport.Transport) {
	max := a.MaxPayload()
	err := a.Send(new(wire.Desc), make([]byte, max+1))
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)
	var st *plexus.Status
	require.True(t, errors.As(err, &st))
	require.Contains(t, st.Message, fmt.Sprint(max+1))
	require.Contains(t, st.Message, fmt.Sprint(max))

	_, err = a.Alloc(max + 1)
	require.ErrorIs(t, err, plexus.ErrResourceExhausted)

	var d wire.Desc
	d.SetAux(42)
	require.NoError(t, a.Send(&d, []byte("after")))
	f := recvFrame(t, b)
	require.Equal(t, uint64(42), f.Desc.Aux(), "the oversize frame must not reach the peer")
	requireBytes(t, []byte("after"), f.Payload)
	b.Release(&f)
}

// promptly is how long a peer may take to notice a close.
const promptly = time.Second

func testPeerCloseDrains(t *testing.T, a, b transport.Transport) {
	for i := range 3 {
		var d wire.Desc
		d.SetAux(uint64(i))
		require.NoError(t, a.Send(&d, Pattern(10*i, uint64(i))))
	}
	require.NoError(t, a.Close())
	for i := range 3 {
		f := recvFrame(t, b)
		require.Equal(t, uint64(i), f.Desc.Aux())
		requireBytes(t, Pattern(10*i, uint64(i)), f.Payload)
		b.Release(&f)
	}
	start := time.Now()
	var f transport.Frame
	err := b.Recv(&f)
	require.ErrorIs(t, err, plexus.ErrPeerDied)
	require.Less(t, time.Since(start), promptly)
	require.ErrorIs(t, b.Recv(&f), plexus.ErrPeerDied, "the error is sticky")
}

func testPeerCloseWakesRecv(t *testing.T, a, b transport.Transport) {
	errc := make(chan error, 1)
	go func() {
		var f transport.Frame
		errc <- b.Recv(&f)
	}()
	time.Sleep(20 * time.Millisecond) // let Recv block; the test holds either way
	start := time.Now()
	require.NoError(t, a.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, plexus.ErrPeerDied)
	case <-time.After(promptly):
		t.Fatalf("Recv still blocked %v after the peer closed", time.Since(start))
	}
}

func testOwnClose(t *testing.T, a, b transport.Transport) {
	errc := make(chan error, 1)
	go func() {
		var f transport.Frame
		errc <- b.Recv(&f)
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, plexus.ErrLinkClosed)
	case <-time.After(promptly):
		t.Fatal("Recv still blocked after Close")
	}
	var f transport.Frame
	require.ErrorIs(t, b.Recv(&f), plexus.ErrLinkClosed)
	require.ErrorIs(t, b.Send(new(wire.Desc), []byte("x")), plexus.ErrLinkClosed)
	require.NoError(t, b.Close(), "Close is idempotent")
	require.NoError(t, a.Close())
	require.ErrorIs(t, a.Recv(&f), plexus.ErrLinkClosed, "own Close wins over the peer's")
}

func testSendAfterPeerClose(t *testing.T, a, b transport.Transport) {
	require.NoError(t, b.Close())
	// A socket may accept a write or two before it learns of the close.
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if err = a.Send(new(wire.Desc), make([]byte, 1000)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.ErrorIs(t, err, plexus.ErrPeerDied)
}

func testAllocFree(t *testing.T, a, b transport.Transport) {
	_, err := a.Alloc(-1)
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	for range 100 {
		buf, err := a.Alloc(100)
		require.NoError(t, err)
		require.Len(t, buf, 100)
		a.Free(buf)
		a.Free(buf) // a second Free must not put it in the pool twice
	}
	// Two live buffers never share memory.
	x, err := a.Alloc(64)
	require.NoError(t, err)
	y, err := a.Alloc(64)
	require.NoError(t, err)
	Fill(x, 1)
	Fill(y, 2)
	require.Equal(t, Pattern(64, 1), x)
	a.Free(x)
	a.Free(y)
	a.Free(make([]byte, 128)) // not from Alloc: ignored

	// A caller slice is never taken by Send, even with a pool-like cap.
	own := make([]byte, 128)
	Fill(own, 3)
	require.NoError(t, a.Send(new(wire.Desc), own))
	f := recvFrame(t, b)
	requireBytes(t, Pattern(128, 3), f.Payload)
	b.Release(&f)
	z, err := a.Alloc(128)
	require.NoError(t, err)
	require.NotSame(t, &own[0], &z[:1][0], "a caller slice went into the pool")
	a.Free(z)
}

func testZeroAllocs(t *testing.T, a, b transport.Transport) {
	payload := Pattern(100, 9)
	var d wire.Desc
	var f transport.Frame
	var failed error
	// roundTrip sends p with d and receives and releases it; a failure is
	// kept for after the measurement, which must not be disturbed.
	roundTrip := func(p []byte) {
		if err := a.Send(&d, p); err != nil {
			failed = err
			return
		}
		if err := b.Recv(&f); err != nil {
			failed = err
			return
		}
		b.Release(&f)
	}
	op := func() {
		d.Reset()
		d.SetAux(1)
		roundTrip(payload)
	}
	for range 100 {
		op() // warm the pools and the poller
	}
	allocs := testing.AllocsPerRun(1000, op)
	require.NoError(t, failed)
	require.Zero(t, allocs, "allocations per Send+Recv+Release")

	buf := make([]byte, 8)
	allocs = testing.AllocsPerRun(1000, func() {
		p, err := a.Alloc(100)
		if err != nil {
			failed = err
			return
		}
		copy(p, buf)
		d.Reset()
		roundTrip(p)
	})
	require.NoError(t, failed)
	require.Zero(t, allocs, "allocations per Alloc+Send+Recv+Release")
}
