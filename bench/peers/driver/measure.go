package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers"
)

// Sizes sets how much each measurement does.
type Sizes struct {
	// EchoWarm calls precede the EchoN timed ones, and go on until
	// WarmFor has passed since the plugin's start: a fresh process's Go
	// heap grows to its first collections in its first few hundred
	// milliseconds, and the pages it touches then cost a fault each (11-15
	// us on the AMD machine), so that 20,000 calls right after a start
	// measured mostly that ramp, not the link (BENCHMARKS.md). Every peer
	// gets the same warm-up; start to first call is a figure of its own.
	EchoWarm, EchoN int
	WarmFor         time.Duration
	// Callers call CallerCalls times each, all at once, right after a
	// burst of CallerWarm calls each that is not timed (the serving side
	// starts its workers, the runtime grows their stacks, as the echo's
	// warm-up calls do for one caller).
	Callers, CallerCalls, CallerWarm int
	// BlobCalls[i] timed calls move BlobSizes[i] bytes, after one
	// untimed call (fully checked for Blob).
	BlobSizes, BlobCalls []int
	// Starts plugins are started; the first Kills of them are killed
	// with a caller blocked in a call.
	Starts, Kills int
	// PhaseTimeout bounds each phase.
	PhaseTimeout time.Duration
}

// warmText says how long the warm-up lasts at least, for the report's
// header: empty without WarmFor.
func (sz Sizes) warmText() string {
	if sz.WarmFor <= 0 {
		return ""
	}
	return fmt.Sprintf(", and at least until %v after the plugin's start", sz.WarmFor)
}

// SizesFor returns the full sizes or, with quick, those of a smoke run.
//
// The large blobs are moved for about a twentieth of a second each way
// at shared-memory speed (16 calls of 64 MiB, 64 of 16 MiB): a plain copy
// loop on the 2-core Intel machine runs its first 10-20 ms after a pause
// at half the speed of its later ones (BENCHMARKS.md), and four calls of
// 64 MiB, as before, measured mostly that ramp.
func SizesFor(quick bool) Sizes {
	if quick {
		return Sizes{EchoWarm: 200, EchoN: 2000, Callers: 64, CallerCalls: 100, CallerWarm: 10,
			BlobSizes: []int{1 << 20, 16 << 20, 64 << 20}, BlobCalls: []int{16, 2, 1},
			Starts: 3, Kills: 2, PhaseTimeout: 60 * time.Second}
	}
	return Sizes{EchoWarm: 1000, EchoN: 20000, WarmFor: 500 * time.Millisecond, Callers: 64, CallerCalls: 1000, CallerWarm: 100,
		BlobSizes: []int{1 << 20, 16 << 20, 64 << 20}, BlobCalls: []int{512, 64, 16},
		Starts: 10, Kills: 5, PhaseTimeout: 120 * time.Second}
}

// blockSettle is how long a Block call is given to reach the plugin before
// the kill.
const blockSettle = 50 * time.Millisecond

// killBound bounds the wait for the blocked caller's error after the kill.
const killBound = 10 * time.Second

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// median of v (which it sorts).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// measurer runs the phases against one peer, with the same code for all.
type measurer struct {
	peer peers.Peer
	bin  string
	sz   Sizes
	out  map[string]float64
}

// measurePeer measures every figure of one peer once and returns them by
// key (those measured before an error, with the error).
func measurePeer(ctx context.Context, p peers.Peer, bin string, sz Sizes) (map[string]float64, error) {
	m := &measurer{peer: p, bin: bin, sz: sz, out: map[string]float64{}}
	err := m.run(ctx)
	return m.out, err
}

// phase runs f under a context cancelled after the phase timeout. The
// context has no deadline: a deadline would travel with every call of the
// peers that carry one (plexus, gRPC) and cost the plugin a timer per call,
// which the peers that do not (net/rpc, the raw socket) would not pay.
func (m *measurer) phase(ctx context.Context, name string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := time.AfterFunc(m.sz.PhaseTimeout, cancel)
	defer t.Stop()
	if err := f(ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// step is one phase of a measurement.
type step struct {
	name string
	f    func(ctx context.Context) error
}

func (m *measurer) run(ctx context.Context) error {
	if err := m.phase(ctx, "start and kill", m.startsAndKills); err != nil {
		return err
	}
	var c peers.Conn
	var started time.Time
	err := m.phase(ctx, "start", func(ctx context.Context) (err error) {
		started = time.Now()
		c, err = m.peer.Start(ctx, m.bin)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	steps := []step{
		{"echo warm-up", func(ctx context.Context) error { return warmUp(ctx, c, m.sz, started) }},
		{"echo", func(ctx context.Context) error {
			lat, err := echoLatencies(ctx, c, m.sz.EchoN)
			if err != nil {
				return err
			}
			m.out["echo_p50_us"] = us(percentile(lat, 50))
			m.out["echo_p90_us"] = us(percentile(lat, 90))
			m.out["echo_p99_us"] = us(percentile(lat, 99))
			return nil
		}},
		{"64 callers' warm-up", func(ctx context.Context) error {
			if m.sz.CallerWarm == 0 {
				return nil
			}
			_, err := concurrentEcho(ctx, c, m.sz.Callers, m.sz.CallerWarm)
			return err
		}},
		{"64 callers", func(ctx context.Context) (err error) {
			m.out["c64_calls_per_s"], err = concurrentEcho(ctx, c, m.sz.Callers, m.sz.CallerCalls)
			return err
		}},
	}
	for i, size := range m.sz.BlobSizes {
		n := m.sz.BlobCalls[i]
		steps = append(steps,
			step{fmt.Sprintf("put and blob %d MiB", size>>20), func(ctx context.Context) (err error) {
				m.out[blobKey("put", size)], m.out[blobKey("blob", size)], err = CopyRates(ctx, c, size, n)
				return err
			}})
	}
	for _, st := range steps {
		if err := m.phase(ctx, st.name, st.f); err != nil {
			return err
		}
	}
	return nil
}

func blobKey(dir string, size int) string { return fmt.Sprintf("%s_%dmib_gbps", dir, size>>20) }

// echoMsg writes the i-th echo payload of caller w into b (8 bytes).
func echoMsg(b []byte, w, i int) {
	binary.LittleEndian.PutUint64(b, uint64(w)<<40^uint64(i)^0x5A5A_0000_0000_0000)
}

// warmUp makes the echo's untimed calls: sz.EchoWarm of them, and more
// until sz.WarmFor has passed since started (the plugin's start).
func warmUp(ctx context.Context, c peers.Conn, sz Sizes, started time.Time) error {
	if _, err := echoLatencies(ctx, c, sz.EchoWarm); err != nil {
		return err
	}
	for time.Since(started) < sz.WarmFor {
		if _, err := echoLatencies(ctx, c, 100); err != nil {
			return err
		}
	}
	return nil
}

// echoLatencies makes n 8-byte Echo calls one after another, checks every
// answer and returns the sorted round-trip times.
func echoLatencies(ctx context.Context, c peers.Conn, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, n)
	msg := make([]byte, 8)
	for i := range n {
		echoMsg(msg, 0, i)
		t0 := time.Now()
		out, err := c.Echo(ctx, msg)
		lat[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("call %d: %w", i, err)
		}
		if !bytes.Equal(out, msg) {
			return nil, fmt.Errorf("call %d: echo %x, sent %x", i, out, msg)
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// concurrentEcho starts callers goroutines, releases them at once, lets
// each make calls 8-byte Echo calls (each answer checked), and returns the
// calls per second from the release to the last answer.
func concurrentEcho(ctx context.Context, c peers.Conn, callers, calls int) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	release := make(chan struct{})
	for w := range callers {
		wg.Go(func() {
			msg := make([]byte, 8)
			<-release
			for i := range calls {
				echoMsg(msg, w, i)
				out, err := c.Echo(ctx, msg)
				if err == nil && !bytes.Equal(out, msg) {
					err = fmt.Errorf("echo %x, sent %x", out, msg)
				}
				if err != nil {
					errs <- fmt.Errorf("caller %d, call %d: %w", w, i, err)
					cancel()
					return
				}
			}
		})
	}
	t0 := time.Now()
	close(release)
	wg.Wait()
	el := time.Since(t0)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(callers*calls) / el.Seconds(), nil
}

func gbps(bytes int, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e9 }

// PutRate sends n blobs of size bytes of the pattern (the plugin checks each by
// sampling and answers with its length), after one untimed call, and
// returns GB/s.
func PutRate(ctx context.Context, c peers.Conn, size, n int) (float64, error) {
	return copyRate(ctx, c, size, n, false)
}

// BlobRate asks for n blobs of size bytes, after one untimed call whose answer
// is compared in full with the pattern; the timed answers are checked by
// sampling (peers.CheckSampled). A peers.Viewer's answers are views,
// released after their check. It returns GB/s.
func BlobRate(ctx context.Context, c peers.Conn, size, n int) (float64, error) {
	return copyRate(ctx, c, size, n, true)
}

// copyRate is PutRate, or BlobRate (blob).
func copyRate(ctx context.Context, c peers.Conn, size, n int, blob bool) (float64, error) {
	cp, err := newCopier(ctx, c, size, blob)
	if err != nil {
		return 0, err
	}
	runtime.GC()
	d, err := cp.run(0, n)
	runtime.GC() // (a Viewer's released views, before the next phase)
	return gbps(size*n, d), err
}

// copyChunks is how many turns Put and Blob take in CopyRates.
const copyChunks = 4

// CopyRates measures Put and Blob of size bytes, n calls each, as PutRate
// and BlobRate do, but in copyChunks alternating turns (a quarter of the
// Puts, a quarter of the Blobs, and so on), and returns both in GB/s. Run
// one after the other, the two directions saw the machine in whatever
// state each phase fell in: 1 MiB copies run at about 30 or about 12 GB/s
// depending on it, in both directions (BENCHMARKS.md), so the ratio of the
// two, which is what issue 14 asks about, measured that and not plexus.
func CopyRates(ctx context.Context, c peers.Conn, size, n int) (put, blob float64, err error) {
	p, err := newCopier(ctx, c, size, false)
	if err != nil {
		return 0, 0, err
	}
	b, err := newCopier(ctx, c, size, true)
	if err != nil {
		return 0, 0, err
	}
	var tp, tb time.Duration
	done := 0
	for k := range copyChunks {
		m := n*(k+1)/copyChunks - done
		runtime.GC()
		d, err := p.run(done, m)
		if err != nil {
			return 0, 0, err
		}
		tp += d
		runtime.GC()
		if d, err = b.run(done, m); err != nil {
			return 0, 0, err
		}
		tb += d
		done += m
	}
	runtime.GC()
	return gbps(size*n, tp), gbps(size*n, tb), nil
}

// copier makes checked Put (host to plugin) or Blob (plugin to host) calls
// of one size.
type copier struct {
	call func(i int, full bool) error
}

// newCopier makes one untimed call (a Blob's answer checked in full).
func newCopier(ctx context.Context, c peers.Conn, size int, blob bool) (*copier, error) {
	var cp copier
	if blob {
		cp.call = blobCall(ctx, c, size)
	} else {
		cp.call = putCall(ctx, c, size)
	}
	return &cp, cp.call(-1, true)
}

// run makes calls first to first+n-1 and returns how long they took.
func (cp *copier) run(first, n int) (time.Duration, error) {
	t0 := time.Now()
	for i := first; i < first+n; i++ {
		if err := cp.call(i, false); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

func putCall(ctx context.Context, c peers.Conn, size int) func(int, bool) error {
	buf := make([]byte, size)
	peers.Fill(buf)
	return func(i int, _ bool) error {
		got, err := c.Put(ctx, buf)
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		if got != size {
			return fmt.Errorf("call %d: plugin received %d bytes, sent %d", i, got, size)
		}
		return nil
	}
}

func blobCall(ctx context.Context, c peers.Conn, size int) func(int, bool) error {
	get := func() ([]byte, func(), error) {
		b, err := c.Blob(ctx, size)
		return b, func() {}, err
	}
	if v, ok := c.(peers.Viewer); ok {
		get = func() ([]byte, func(), error) { return v.BlobView(ctx, size) }
	}
	return func(i int, full bool) error {
		b, release, err := get()
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		defer release()
		if len(b) != size {
			return fmt.Errorf("call %d: %d bytes, asked for %d", i, len(b), size)
		}
		if full {
			err = peers.Check(b)
		} else {
			err = peers.CheckSampled(b)
		}
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		return nil
	}
}

// startsAndKills starts the plugin Starts times, timing each start to the
// end of its first Echo; the first Kills instances are killed with SIGKILL
// while a caller is blocked in Block, timing the kill to that caller's
// error. It records the medians.
func (m *measurer) startsAndKills(ctx context.Context) error {
	var starts, kills []float64
	msg := []byte("first!!!")
	for i := range m.sz.Starts {
		t0 := time.Now()
		c, err := m.peer.Start(ctx, m.bin)
		if err != nil {
			return fmt.Errorf("start %d: %w", i, err)
		}
		out, err := c.Echo(ctx, msg)
		el := time.Since(t0)
		if err == nil && !bytes.Equal(out, msg) {
			err = fmt.Errorf("echo %q, sent %q", out, msg)
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("start %d: first call: %w", i, err)
		}
		starts = append(starts, ms(el))
		if i < m.sz.Kills {
			d, err := KillBlocked(ctx, c)
			if err != nil {
				c.Close()
				return fmt.Errorf("kill %d: %w", i, err)
			}
			kills = append(kills, ms(d))
		}
		if err := c.Close(); err != nil && i >= m.sz.Kills {
			return fmt.Errorf("close %d: %w", i, err)
		}
	}
	m.out["start_ms"] = median(starts)
	if len(kills) > 0 {
		m.out["kill_ms"] = median(kills)
	}
	return nil
}

// KillBlocked blocks a caller in Block, SIGKILLs the plugin and returns the
// time from the kill to the caller's error. The plugin must not be used
// afterwards but for Close.
func KillBlocked(ctx context.Context, c peers.Conn) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Block(ctx) }()
	time.Sleep(blockSettle)
	select {
	case err := <-errc:
		return 0, fmt.Errorf("the blocking call returned before the kill: %v", err)
	default:
	}
	pid := c.Pid()
	if pid <= 0 {
		return 0, fmt.Errorf("no plugin pid (%d)", pid)
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, err
	}
	select {
	case err := <-errc:
		d := time.Since(t0)
		if err == nil {
			return 0, errors.New("the blocked call succeeded after the kill")
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("the blocked call ended with the phase: %w", err)
		}
		return d, nil
	case <-time.After(killBound):
		return 0, fmt.Errorf("the blocked caller got no error within %v of the kill", killBound)
	}
}
