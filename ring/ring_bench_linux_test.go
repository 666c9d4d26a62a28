package ring

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/wire"
)

// Cross-process runs share one memfd holding two rings: A carries parent ->
// child, B child -> parent. Both sides spin-poll (yielding to the Go
// scheduler between polls), so the figures are the ring's cost across
// address spaces plus cache-line transfer, without any doorbell.

const (
	helperStream   = "ring-stream"
	helperPingPong = "ring-pingpong"

	// Control descriptors the child sends on B; data descriptors carry
	// their sequence number in Channel.
	kindReady = 1
	kindDone  = 2
)

func init() {
	xproc.Register(helperStream, streamChild)
	xproc.Register(helperPingPong, pingPongChild)
}

// ringStride keeps ring B on its own pages, as package shm lays rings out.
func ringStride(capacity int) int {
	page := os.Getpagesize()
	return (RegionSize(capacity) + page - 1) / page * page
}

// sharedRings is the parent's view of the memfd.
type sharedRings struct {
	file *os.File
	a, b []byte
}

func newSharedRings(tb testing.TB, capacity int) sharedRings {
	tb.Helper()
	fd, err := unix.MemfdCreate("plexus-ring-bench", unix.MFD_CLOEXEC)
	require.NoError(tb, err)
	file := os.NewFile(uintptr(fd), "plexus-ring-bench")
	tb.Cleanup(func() { _ = file.Close() })
	size := 2 * ringStride(capacity)
	require.NoError(tb, unix.Ftruncate(fd, int64(size)))
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = unix.Munmap(mem) })
	sr := sharedRings{file: file, a: mem[:RegionSize(capacity)], b: mem[ringStride(capacity):][:RegionSize(capacity)]}
	require.NoError(tb, Init(sr.a, capacity))
	require.NoError(tb, Init(sr.b, capacity))
	return sr
}

// childRings maps the memfd inherited as fd 3 and attaches the child's ends.
func childRings() (*Consumer, *Producer, error) {
	capacity, err := strconv.Atoi(xproc.Arg("CAP"))
	if err != nil {
		return nil, nil, fmt.Errorf("capacity: %w", err)
	}
	f := xproc.File(0)
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, nil, err
	}
	size := 2 * ringStride(capacity)
	if st.Size < int64(size) {
		return nil, nil, fmt.Errorf("memfd is %d bytes, want %d", st.Size, size)
	}
	// Never unmapped: the process exits when the helper returns.
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	c, err := NewConsumer(mem[:RegionSize(capacity)], capacity)
	if err != nil {
		return nil, nil, err
	}
	p, err := NewProducer(mem[ringStride(capacity):][:RegionSize(capacity)], capacity)
	return c, p, err
}

// pushCtl sends a control descriptor, spinning while B is full.
func pushCtl(p *Producer, kind wire.Kind, aux, method uint64, patient bool) error {
	var d Desc
	d.SetKind(kind)
	d.SetAux(aux)
	d.SetMethod(method)
	sp := newSpinner(patient)
	for {
		ok, _, err := p.PushOne((*Cell)(&d))
		if ok || err != nil {
			return err
		}
		if err := sp.miss(); err != nil {
			return err
		}
	}
}

// popCtl waits for a control descriptor of the given kind.
func popCtl(c *Consumer, kind wire.Kind, patient bool) (Desc, error) {
	var d Desc
	sp := newSpinner(patient)
	for {
		ok, _, err := c.PopOne((*Cell)(&d))
		if err != nil {
			return d, err
		}
		if ok {
			if d.Kind() != kind {
				return d, fmt.Errorf("control descriptor of kind %d, want %d", d.Kind(), kind)
			}
			return d, nil
		}
		if err := sp.miss(); err != nil {
			return d, err
		}
	}
}

func childFail(err error) int {
	fmt.Fprintf(os.Stderr, "ring helper: %v\n", err)
	return 1
}

// streamChild consumes N descriptors from A, checking their order (and in a
// test, every byte via the checksum), then reports on B how many it took and
// the first bad sequence number plus one (0: none).
func streamChild() int {
	c, p, err := childRings()
	if err != nil {
		return childFail(err)
	}
	total, err := strconv.ParseUint(xproc.Arg("N"), 10, 64)
	if err != nil {
		return childFail(err)
	}
	test := xproc.Arg("TEST") != ""
	if err := pushCtl(p, kindReady, 0, 0, test); err != nil {
		return childFail(err)
	}
	var batch [64]Desc
	var seq, bad uint64
	sp := newSpinner(test)
	for seq < total {
		n, _, err := c.Pop(wire.Cells(batch[:]))
		if err != nil {
			return childFail(err)
		}
		for i := range n {
			if bad == 0 && (batch[i].Channel() != seq || test && checkDesc(&batch[i], seq) != nil) {
				bad = seq + 1
			}
			seq++
		}
		if n > 0 {
			sp.progress()
		} else if err := sp.miss(); err != nil {
			return childFail(fmt.Errorf("at seq %d of %d: %w", seq, total, err))
		}
	}
	if err := pushCtl(p, kindDone, seq, bad, test); err != nil {
		return childFail(err)
	}
	return 0
}

// pingPongChild bounces N descriptors from A back onto B, one at a time.
func pingPongChild() int {
	c, p, err := childRings()
	if err != nil {
		return childFail(err)
	}
	total, err := strconv.Atoi(xproc.Arg("N"))
	if err != nil {
		return childFail(err)
	}
	test := xproc.Arg("TEST") != ""
	if err := pushCtl(p, kindReady, 0, 0, test); err != nil {
		return childFail(err)
	}
	var d Desc
	sp := newSpinner(test)
	for i := 0; i < total; {
		ok, _, err := c.PopOne((*Cell)(&d))
		if err != nil {
			return childFail(err)
		}
		if !ok {
			if err := sp.miss(); err != nil {
				return childFail(fmt.Errorf("round trip %d of %d: %w", i, total, err))
			}
			continue
		}
		sp.progress()
		// B has room: the parent sends the next one only after taking
		// this one back.
		if ok, _, err := p.PushOne((*Cell)(&d)); !ok || err != nil {
			return childFail(fmt.Errorf("echo %d: ok %v, %v", i, ok, err))
		}
		i++
	}
	return 0
}

type xpRun struct {
	child *xproc.Child
	tx    *Producer // ring A
	rx    *Consumer // ring B
	// test: full content checks and a spinner that backs off early.
	test bool
}

// startChild maps the rings, starts helper and waits until it is attached,
// so that process start-up stays outside the timed region.
func startChild(tb testing.TB, helper string, capacity, n int, test bool) xpRun {
	tb.Helper()
	sr := newSharedRings(tb, capacity)
	tx, err := NewProducer(sr.a, capacity)
	require.NoError(tb, err)
	rx, err := NewConsumer(sr.b, capacity)
	require.NoError(tb, err)
	args := map[string]string{"CAP": strconv.Itoa(capacity), "N": strconv.Itoa(n)}
	if test {
		args["TEST"] = "1"
	}
	child := xproc.Start(tb, helper, []*os.File{sr.file}, args)
	_, err = popCtl(rx, kindReady, test)
	require.NoError(tb, err, "child never attached")
	return xpRun{child: child, tx: tx, rx: rx, test: test}
}

// streamTo publishes n descriptors 0..n-1 on r.tx; in a test every
// descriptor is built in full, otherwise only its sequence number changes.
func (r xpRun) streamTo(n int) error {
	const batch = 64
	var in [batch]Desc
	for i := range in {
		makeDesc(&in[i], uint64(i))
	}
	sp := newSpinner(r.test)
	total := uint64(n)
	for seq := uint64(0); seq < total; {
		k := min(uint64(batch), total-seq)
		for i := range k {
			if r.test {
				makeDesc(&in[i], seq+i)
			} else {
				in[i].SetChannel(seq + i)
			}
		}
		m, _, err := r.tx.Push(wire.Cells(in[:k]))
		if err != nil {
			return err
		}
		seq += uint64(m)
		if m > 0 {
			sp.progress()
		} else if err := sp.miss(); err != nil {
			return fmt.Errorf("at seq %d of %d: %w", seq, total, err)
		}
	}
	return nil
}

// finishStream collects the child's report and exit status.
func (r xpRun) finishStream(tb testing.TB, n int) {
	tb.Helper()
	done, err := popCtl(r.rx, kindDone, r.test)
	require.NoError(tb, err)
	require.Equal(tb, uint64(n), done.Aux(), "descriptors the child consumed")
	require.Zero(tb, done.Method(), "first bad sequence number + 1 seen by the child")
	require.NoError(tb, r.child.Wait(10*time.Second))
}

// pingPong does n round trips of one descriptor.
func (r xpRun) pingPong(n int) error {
	var out, in Desc
	makeDesc(&out, 0)
	sp := newSpinner(r.test)
	for i := range uint64(n) {
		out.SetChannel(i)
		if ok, _, err := r.tx.PushOne((*Cell)(&out)); !ok || err != nil {
			return fmt.Errorf("send %d: ok %v, %v", i, ok, err)
		}
		for {
			ok, _, err := r.rx.PopOne((*Cell)(&in))
			if err != nil {
				return err
			}
			if ok {
				sp.progress()
				break
			}
			if err := sp.miss(); err != nil {
				return fmt.Errorf("round trip %d: %w", i, err)
			}
		}
		if in.Channel() != i {
			return fmt.Errorf("round trip %d came back as %d", i, in.Channel())
		}
	}
	return nil
}

// TestCrossProcessRing checks, at test sizes, what the benchmarks below
// measure: a ring in a shared mapping between two processes delivers every
// descriptor intact and in order.
func TestCrossProcessRing(t *testing.T) {
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 100_000
	}
	r := startChild(t, helperStream, 64, n, true)
	require.NoError(t, r.streamTo(n))
	r.finishStream(t, n)

	r = startChild(t, helperPingPong, 64, 2000, true)
	require.NoError(t, r.pingPong(2000))
	require.NoError(t, r.child.Wait(10*time.Second))
}

// BenchmarkSPSCCrossProcess: one-way throughput, parent -> child. One op is
// one descriptor.
func BenchmarkSPSCCrossProcess(b *testing.B) {
	r := startChild(b, helperStream, 1024, b.N, false)
	b.ReportAllocs()
	b.SetBytes(CellSize)
	b.ResetTimer()
	start := time.Now()
	if err := r.streamTo(b.N); err != nil {
		b.Fatal(err)
	}
	// The child's report arrives after it consumed the last descriptor:
	// the wait belongs to the measurement.
	done, err := popCtl(r.rx, kindDone, false)
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "desc/s")
	require.Equal(b, uint64(b.N), done.Aux(), "descriptors the child consumed")
	require.Zero(b, done.Method(), "first bad sequence number + 1 seen by the child")
	require.NoError(b, r.child.Wait(10*time.Second))
}

// BenchmarkPingPongCrossProcess: ns/op is one round trip of one descriptor.
func BenchmarkPingPongCrossProcess(b *testing.B) {
	r := startChild(b, helperPingPong, 64, b.N, false)
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.pingPong(b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	require.NoError(b, r.child.Wait(10*time.Second))
}
