//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/internal/loadgen"
	"github.com/plexus-ipc/plexus/internal/procstat"
	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// benchConfig sizes every phase.
type benchConfig struct {
	HotN, SporadicN, AllocN, Blob1N, Blob64N int
	Blob64Size                               int
	// BigRounds is how many times the 16 MiB bus message is fanned out
	// (after a warm-up round).
	BigRounds                  int
	C64Dur, StreamDur, IdleDur time.Duration
	// PhaseTimeout bounds every phase (a watchdog cancels its context).
	PhaseTimeout time.Duration
}

// defaultConfig: the 64 MiB figures take 8 (quick) or 16 calls, a tenth
// of a second at the targets' rates: the first 10-20 ms of copying after
// a pause run at half speed on the reference machine (BENCHMARKS.md),
// and 2 or 5 calls measured mostly that.
func defaultConfig(quick bool) benchConfig {
	if quick {
		return benchConfig{HotN: 5000, SporadicN: 300, AllocN: 10000, Blob1N: 500, Blob64N: 8,
			Blob64Size: 64 << 20, C64Dur: time.Second, StreamDur: time.Second, IdleDur: 2 * time.Second,
			BigRounds: 5, PhaseTimeout: 30 * time.Second}
	}
	return benchConfig{HotN: 20000, SporadicN: 2000, AllocN: 10000, Blob1N: 2000, Blob64N: 16,
		Blob64Size: 64 << 20, C64Dur: 2 * time.Second, StreamDur: 2 * time.Second, IdleDur: 3 * time.Second,
		BigRounds: 20, PhaseTimeout: 60 * time.Second}
}

// Keys are the JSON keys runBench always returns.
var Keys = []string{
	"unary_hot_p50_us", "unary_hot_p99_us", "unary_sporadic_p50_us", "unary_sporadic_p99_us",
	"calls_per_sec_c64", "stream_msgs_per_sec", "blob_1mib_copy_gbps", "blob_1mib_lease_us",
	"blob_64mib_copy_gbps", "blob_64mib_lease_gbps", "allocs_per_call", "idle_cpu_pct",
	"start_to_first_call_ms", "crash_detect_ms", "uds_pingpong_p50_us", "uds_pingpong_p99_us",
	"stream_transport_unary_p50_us", "crash_detect_loaded_ms", "stream_unbuffered_msgs_per_sec",
	"blob_1mib_lease_p50_us", "uds_pingpong_sporadic_p50_us", "wake_floor_p50_us",
	"ring_floor_calls_per_sec_c64", "machine_stalls_20us_per_sec", "machine_lost_pct",
}

// peer is a running plugin process and the host's session to it: a
// host.Client for the shared-memory plugin (the path a user takes), or a
// bare process for the stream transport's.
type peer struct {
	client *host.Client
	cmd    *exec.Cmd
	s      *session.Session
	done   chan struct{} // cmd only: closed once cmd.Wait returned
	once   sync.Once
}

func (p *peer) Pid() int {
	if p.client != nil {
		return p.client.Pid()
	}
	return p.cmd.Process.Pid
}

// Close ends the session and the process, waiting at most 5 s for a clean
// exit before SIGKILL.
func (p *peer) Close() {
	p.once.Do(func() {
		if p.client != nil {
			_ = p.client.Close()
			return
		}
		if p.s != nil {
			_ = p.s.Close()
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func pluginCmd(kind string, files []*os.File) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "bench-plugin", "-transport="+kind)
	cmd.Env = append(os.Environ(), pluginEnv+"=1")
	cmd.ExtraFiles = files
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

func startWait(cmd *exec.Cmd) *peer {
	p := &peer{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

// startShm starts a plugin the way a user's host does (host.Client:
// segment, spawn, handshake) and returns the time it began.
func startShm() (*peer, time.Time, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, time.Time{}, err
	}
	t0 := time.Now()
	c, err := host.New(host.Config{
		Path: exe, Args: []string{"bench-plugin", "-transport=shm"}, Env: []string{pluginEnv + "=1"},
		Name: "bench-plugin", Cookie: benchCookie,
		Versions:      map[uint32][]host.ServiceDesc{1: {benchService().Desc()}},
		Logger:        hclog.NewNullLogger(),
		KeepaliveIdle: -1, // no periodic wake-ups while idle_cpu_pct is measured
	})
	if err != nil {
		return nil, t0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return nil, t0, err
	}
	return &peer{client: c, s: c.Session()}, t0, nil
}

func startStream() (*peer, error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "bench-host")
	theirs := os.NewFile(uintptr(fds[1]), "bench-plugin")
	defer theirs.Close()
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, err
	}
	cmd, err := pluginCmd("stream", []*os.File{theirs})
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		c.Close()
		return nil, err
	}
	p := startWait(cmd)
	p.s = session.New(stream.New(c, stream.Config{}), session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	return p, nil
}

// phaseCtx is cancelled after d, without a deadline that would travel with
// every call.
func phaseCtx(d time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	t := time.AfterFunc(d, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// latencies runs n Echo calls with pause between them and returns p50 and
// p99 in microseconds.
func latencies(ctx context.Context, s *session.Session, n int, pause time.Duration) (p50, p99 float64, err error) {
	var req plexus.Marshaler = plexus.Raw("0123456789abcdef")
	var resp plexus.Raw
	lat := make([]time.Duration, n)
	for i := range n {
		if pause > 0 {
			time.Sleep(pause)
		}
		t0 := time.Now()
		if err := s.Invoke(ctx, echoID, req, &resp); err != nil {
			return 0, 0, fmt.Errorf("echo %d: %w", i, err)
		}
		lat[i] = time.Since(t0)
	}
	if len(resp) != 16 {
		return 0, 0, fmt.Errorf("echo returned %d bytes, want 16", len(resp))
	}
	return us(udsbench.Percentile(lat, 50)), us(udsbench.Percentile(lat, 99)), nil
}

func concurrent(ctx context.Context, s *session.Session, workers int, d time.Duration) (float64, error) {
	var stop atomic.Bool
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req plexus.Marshaler = plexus.Raw("0123456789abcdef")
			var resp plexus.Raw
			var n int64
			for !stop.Load() {
				if err := s.Invoke(ctx, echoID, req, &resp); err != nil {
					errs <- err
					break
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	el := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(total.Load()) / el.Seconds(), nil
}

func streamRate(ctx context.Context, s *session.Session, d time.Duration, buffered bool) (float64, error) {
	st, err := s.NewStream(ctx, sinkID, nil, false)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.Buffer(buffered); err != nil {
		return 0, err
	}
	var msg plexus.Marshaler = plexus.Raw(make([]byte, 64))
	var sent uint64
	start := time.Now()
	deadline := start.Add(d)
	for {
		if err := st.Send(msg); err != nil {
			return 0, fmt.Errorf("stream send %d: %w", sent, err)
		}
		sent++
		if sent%1024 == 0 && time.Now().After(deadline) {
			break
		}
	}
	if err := st.CloseSend(); err != nil {
		return 0, err
	}
	var resp plexus.Raw
	if err := st.Recv(&resp); err != nil {
		return 0, fmt.Errorf("stream count: %w", err)
	}
	el := time.Since(start)
	if len(resp) != 8 || binary.LittleEndian.Uint64(resp) != sent {
		return 0, fmt.Errorf("sink counted %x, sent %d", []byte(resp), sent)
	}
	if err := st.Recv(&resp); err != io.EOF {
		return 0, fmt.Errorf("stream end: %v", err)
	}
	return float64(sent) / el.Seconds(), nil
}

// blob returns bytes/s/1e9 and the time per call.
func blob(ctx context.Context, s *session.Session, size, n int) (gbps float64, per time.Duration, err error) {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	var req plexus.Marshaler = plexus.Raw(buf)
	var resp plexus.Raw
	// One warm-up call maps the memory on both sides.
	if err := s.Invoke(ctx, blobID, req, &resp); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for i := range n {
		if err := s.Invoke(ctx, blobID, req, &resp); err != nil {
			return 0, 0, fmt.Errorf("blob %d: %w", i, err)
		}
		if len(resp) != 8 || binary.LittleEndian.Uint64(resp) != uint64(size) {
			return 0, 0, fmt.Errorf("blob %d: plugin saw the wrong size", i)
		}
	}
	el := time.Since(start)
	return float64(size) * float64(n) / el.Seconds() / 1e9, el / time.Duration(n), nil
}

// blobLease sends n leases of size bytes, each allocated from the link and
// written in place (a copy from src stands for whatever produces the data,
// a decoder or a file read), and returns the rate and time per call.
// blobLease returns bytes/s/1e9, the mean time per call and its median.
func blobLease(ctx context.Context, s *session.Session, size, n int) (gbps float64, per, p50 time.Duration, err error) {
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	call := func(i int) error {
		l, err := s.Alloc(size)
		if err != nil {
			return fmt.Errorf("lease %d: %w", i, err)
		}
		copy(l.Bytes(), src)
		var resp plexus.Raw
		if err := s.Invoke(ctx, blobID, l, &resp); err != nil {
			return fmt.Errorf("lease %d: %w", i, err)
		}
		if len(resp) != 8 || binary.LittleEndian.Uint64(resp) != uint64(size) {
			return fmt.Errorf("lease %d: plugin saw the wrong size", i)
		}
		return nil
	}
	// One warm-up call maps the memory on both sides.
	if err := call(-1); err != nil {
		return 0, 0, 0, err
	}
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if err := call(i); err != nil {
			return 0, 0, 0, err
		}
		lat[i] = time.Since(t0)
	}
	el := time.Since(start)
	return float64(size) * float64(n) / el.Seconds() / 1e9, el / time.Duration(n), udsbench.Percentile(lat, 50), nil
}

func allocsPerCall(ctx context.Context, s *session.Session, n int) (float64, error) {
	var req plexus.Marshaler = plexus.Raw("0123456789abcdef")
	var resp plexus.Raw = make([]byte, 0, 64)
	// Steady state: the path warmed up (free lists and queues at their
	// working size) and no collection in progress, whose sweeping and
	// emptied runtime caches would be counted as the calls' allocations.
	// The collection empties the runtime's per-processor caches (the
	// sudog of a goroutine blocked on a channel, for one), so the path is
	// warmed again after it: what refilling them allocates once per
	// processor after each collection is not a cost of the calls.
	warm := func() error {
		for i := range 1000 {
			if err := s.Invoke(ctx, echoID, req, &resp); err != nil {
				return fmt.Errorf("echo %d: %w", i, err)
			}
		}
		return nil
	}
	if err := warm(); err != nil {
		return 0, err
	}
	runtime.GC()
	if err := warm(); err != nil {
		return 0, err
	}
	var before, after runtimeMem
	before.read()
	for i := range n {
		if err := s.Invoke(ctx, echoID, req, &resp); err != nil {
			return 0, fmt.Errorf("echo %d: %w", i, err)
		}
	}
	after.read()
	return float64(after.mallocs-before.mallocs) / float64(n), nil
}

// procTicks reads utime+stime of pid in clock ticks.
func procTicks(pid int) (int64, error) {
	f, err := procstat.Fields(pid)
	if err != nil {
		return 0, err
	}
	u, err1 := procstat.Int(f, procstat.Utime)
	st, err2 := procstat.Int(f, procstat.Stime)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + st, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func idleCPU(pid int, d time.Duration) (float64, error) {
	const ticksPerSec = 100
	// The blob phases before this one left this process hundreds of MiB
	// of garbage; collecting it and returning it to the system now keeps
	// the runtime's background scavenger, which would otherwise do that
	// during the window, out of a figure about the link.
	runtime.GC()
	debug.FreeOSMemory()
	h0 := selfCPU()
	p0, err := procTicks(pid)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(d)
	el := time.Since(t0)
	h1 := selfCPU()
	p1, err := procTicks(pid)
	if err != nil {
		return 0, err
	}
	host := float64(h1-h0) / float64(el) * 100
	plug := float64(p1-p0) / ticksPerSec / el.Seconds() * 100
	return max(host, plug), nil
}

// crashDetect blocks 10 calls in the plugin, SIGKILLs it and returns the
// time until the first caller fails, checking it fails with ErrPeerDied.
func crashDetect(p *peer, bound time.Duration) (float64, error) {
	ctx, cancel := phaseCtx(bound)
	defer cancel()
	errs := make(chan error, 10)
	var req plexus.Marshaler = plexus.Raw("block")
	for range 10 {
		go func() { errs <- p.s.Invoke(ctx, blockID, req, nil) }()
	}
	// Let the calls reach the plugin: an Echo behind them proves the
	// plugin is dispatching.
	time.Sleep(20 * time.Millisecond)
	if err := p.s.Invoke(ctx, echoID, req, nil); err != nil {
		return 0, fmt.Errorf("echo before crash: %w", err)
	}
	t0 := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		return 0, err
	}
	var first error
	var at time.Duration
	for i := range 10 {
		select {
		case err := <-errs:
			if i == 0 {
				at = time.Since(t0)
				first = err
			}
		case <-ctx.Done():
			return 0, errors.New("blocked callers not released after SIGKILL")
		}
	}
	if !errors.Is(first, plexus.ErrPeerDied) {
		return 0, fmt.Errorf("first caller got %v, want ErrPeerDied", first)
	}
	return float64(at) / float64(time.Millisecond), nil
}

// runBench runs every phase and returns the figures keyed as in Keys.
func runBench(cfg benchConfig) (map[string]float64, error) {
	r := map[string]float64{}
	bound := cfg.PhaseTimeout
	if bound <= 0 {
		bound = 30 * time.Second
	}

	// UDS baseline first, while nothing else runs.
	peer, err := udsbench.StartPeer()
	if err != nil {
		return nil, fmt.Errorf("uds peer: %w", err)
	}
	lat := make([]time.Duration, cfg.HotN)
	perr := udsbench.PingPong(peer.Conn, cfg.HotN, lat)
	// The same ping-pong 1 ms apart, the yardstick of the sporadic figure.
	slat := make([]time.Duration, cfg.SporadicN)
	for i := range slat {
		if perr != nil {
			break
		}
		time.Sleep(time.Millisecond)
		perr = udsbench.PingPong(peer.Conn, 1, slat[i:i+1])
	}
	cerr := peer.Close()
	if err := errors.Join(perr, cerr); err != nil {
		return nil, fmt.Errorf("uds ping-pong: %w", err)
	}
	r["uds_pingpong_p50_us"] = us(udsbench.Percentile(lat, 50))
	r["uds_pingpong_p99_us"] = us(udsbench.Percentile(lat, 99))
	r["uds_pingpong_sporadic_p50_us"] = us(udsbench.Percentile(slat, 50))
	if r["wake_floor_p50_us"], err = wakeFloor(cfg.HotN); err != nil {
		return nil, err
	}
	if r["ring_floor_calls_per_sec_c64"], err = ringFloor(cfg.C64Dur); err != nil {
		return nil, err
	}
	if err := machineStalls(r, ""); err != nil {
		return nil, err
	}

	p, t0, err := startShm()
	if err != nil {
		return nil, fmt.Errorf("start shm plugin: %w", err)
	}
	defer p.Close()
	{
		ctx, cancel := phaseCtx(bound)
		var req plexus.Marshaler = plexus.Raw("first")
		err := p.s.Invoke(ctx, echoID, req, nil)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("first call: %w", err)
		}
		r["start_to_first_call_ms"] = float64(time.Since(t0)) / float64(time.Millisecond)
	}

	phase := func(name string, f func(ctx context.Context) error) error {
		ctx, cancel := phaseCtx(bound)
		defer cancel()
		if err := f(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	steps := []benchStep{
		{"warm-up", func(ctx context.Context) error {
			_, _, err := latencies(ctx, p.s, min(1000, cfg.HotN), 0)
			return err
		}},
		{"unary hot", func(ctx context.Context) (err error) {
			r["unary_hot_p50_us"], r["unary_hot_p99_us"], err = latencies(ctx, p.s, cfg.HotN, 0)
			return err
		}},
		{"allocs", func(ctx context.Context) (err error) {
			r["allocs_per_call"], err = allocsPerCall(ctx, p.s, cfg.AllocN)
			return err
		}},
		{"unary sporadic", func(ctx context.Context) (err error) {
			r["unary_sporadic_p50_us"], r["unary_sporadic_p99_us"], err = latencies(ctx, p.s, cfg.SporadicN, time.Millisecond)
			return err
		}},
		{"c64", func(ctx context.Context) (err error) {
			r["calls_per_sec_c64"], err = concurrent(ctx, p.s, 64, cfg.C64Dur)
			return err
		}},
		{"stream", func(ctx context.Context) (err error) {
			r["stream_msgs_per_sec"], err = streamRate(ctx, p.s, cfg.StreamDur, true)
			return err
		}},
		{"stream unbuffered", func(ctx context.Context) (err error) {
			r["stream_unbuffered_msgs_per_sec"], err = streamRate(ctx, p.s, cfg.StreamDur, false)
			return err
		}},
		{"blob 1MiB", func(ctx context.Context) (err error) {
			r["blob_1mib_copy_gbps"], _, err = blob(ctx, p.s, 1<<20, cfg.Blob1N)
			return err
		}},
		{"lease 1MiB", func(ctx context.Context) error {
			_, per, p50, err := blobLease(ctx, p.s, 1<<20, cfg.Blob1N)
			r["blob_1mib_lease_us"], r["blob_1mib_lease_p50_us"] = us(per), us(p50)
			return err
		}},
		{"blob 64MiB", func(ctx context.Context) (err error) {
			r["blob_64mib_copy_gbps"], _, err = blob(ctx, p.s, cfg.Blob64Size, cfg.Blob64N)
			return err
		}},
		{"lease 64MiB", func(ctx context.Context) (err error) {
			r["blob_64mib_lease_gbps"], _, _, err = blobLease(ctx, p.s, cfg.Blob64Size, cfg.Blob64N)
			return err
		}},
		{"idle cpu", func(ctx context.Context) (err error) {
			r["idle_cpu_pct"], err = idleCPU(p.Pid(), cfg.IdleDur)
			return err
		}},
		{"stream transport", func(ctx context.Context) error {
			sp, err := startStream()
			if err != nil {
				return err
			}
			defer sp.Close()
			if _, _, err := latencies(ctx, sp.s, min(1000, cfg.HotN), 0); err != nil {
				return err
			}
			r["stream_transport_unary_p50_us"], _, err = latencies(ctx, sp.s, cfg.HotN, 0)
			return err
		}},
	}
	steps = append(steps, busSteps(cfg, r)...)
	steps = append(steps, []benchStep{
		{"beside busy loops", func(ctx context.Context) error {
			return underLoad(ctx, p, loadgen.Busy, cfg, r)
		}},
		{"beside allocating programs", func(ctx context.Context) error {
			return underLoad(ctx, p, loadgen.Alloc, cfg, r)
		}},
		{"crash detect", func(ctx context.Context) (err error) {
			// A plugin of its own: how long the kernel takes to tear a
			// killed process down before it closes its descriptors grows
			// with the memory it had mapped, and the main plugin has just
			// mapped hundreds of MiB of blobs (see crash_detect_loaded_ms).
			fresh, _, err := startShm()
			if err != nil {
				return err
			}
			defer fresh.Close()
			r["crash_detect_ms"], err = crashDetect(fresh, bound)
			return err
		}},
		{"crash detect (loaded)", func(ctx context.Context) (err error) {
			r["crash_detect_loaded_ms"], err = crashDetect(p, bound)
			return err
		}},
	}...)
	for _, st := range steps {
		if err := phase(st.name, st.f); err != nil {
			return nil, err
		}
	}
	return r, checkKeys(r)
}

// checkKeys checks that r has a figure for every key.
func checkKeys(r map[string]float64) error {
	for _, k := range Keys {
		if _, ok := r[k]; !ok {
			return fmt.Errorf("internal error: no figure for %s", k)
		}
	}
	return nil
}

// benchStep is one phase of runBench.
type benchStep struct {
	name string
	f    func(ctx context.Context) error
}

type target struct {
	key, label, want, note string
	// pass judges the figure, some against others of the same run (r).
	pass func(v float64, r map[string]float64) bool
}

var targets = []target{
	{"unary_hot_p50_us", "unary hot p50 (us)", "<= 2", "", func(v float64, _ map[string]float64) bool { return v <= 2 }},
	{"unary_hot_p99_us", "unary hot p99 (us)", "<= 20", "", func(v float64, _ map[string]float64) bool { return v <= 20 }},
	{"unary_sporadic_p50_us", "unary sporadic p50 (us)", "<= 10", "", func(v float64, _ map[string]float64) bool { return v <= 10 }},
	{"unary_sporadic_p99_us", "unary sporadic p99 (us)", "<= 80", "", func(v float64, _ map[string]float64) bool { return v <= 80 }},
	{"calls_per_sec_c64", "calls/s, 64 callers", ">= 1,000,000", "", func(v float64, _ map[string]float64) bool { return v >= 1e6 }},
	{"stream_msgs_per_sec", "stream msgs/s (64 B)", ">= 10,000,000", "buffered stream", func(v float64, _ map[string]float64) bool { return v >= 1e7 }},
	{"stream_unbuffered_msgs_per_sec", "stream msgs/s, a frame each", "-", "unbuffered stream", nil},
	{"blob_1mib_copy_gbps", "blob 1 MiB copy (GB/s)", ">= 8", "", func(v float64, _ map[string]float64) bool { return v >= 8 }},
	{"blob_1mib_lease_us", "blob 1 MiB lease (us/call)", "<= 60", "written in place, mean", func(v float64, _ map[string]float64) bool { return v <= 60 }},
	{"blob_1mib_lease_p50_us", "blob 1 MiB lease p50 (us)", "-", "median of the same calls", nil},
	{"blob_64mib_copy_gbps", "blob 64 MiB copy (GB/s)", ">= 10", "", func(v float64, _ map[string]float64) bool { return v >= 10 }},
	{"blob_64mib_lease_gbps", "blob 64 MiB lease (GB/s)", ">= 15", "", func(v float64, _ map[string]float64) bool { return v >= 15 }},
	{"allocs_per_call", "allocs/call (host)", "0", "", func(v float64, _ map[string]float64) bool { return v == 0 }},
	{"idle_cpu_pct", "idle CPU (% of a core)", "< 0.5", "", func(v float64, _ map[string]float64) bool { return v < 0.5 }},
	{"start_to_first_call_ms", "start to first call (ms)", "<= 10", "", func(v float64, _ map[string]float64) bool { return v <= 10 }},
	{"crash_detect_ms", "crash detect (ms)", "<= 2", "fresh plugin", func(v float64, _ map[string]float64) bool { return v <= 2 }},
	{"crash_detect_loaded_ms", "crash detect, after the blobs (ms)", "-", "plugin with blob mappings", nil},
	{"uds_pingpong_p50_us", "UDS ping-pong p50 (us)", "-", "(baseline)", nil},
	{"uds_pingpong_p99_us", "UDS ping-pong p99 (us)", "-", "(baseline)", nil},
	{"uds_pingpong_sporadic_p50_us", "UDS ping-pong 1 ms apart p50 (us)", "-", "(baseline of the sporadic figure)", nil},
	{"wake_floor_p50_us", "blocking ping-pong p50 (us)", "-", "(floor of a call that wakes its peer)", nil},
	{"ring_floor_calls_per_sec_c64", "bare ring, 64 callers (calls/s)", "-", "(ceiling of 64 callers)", nil},
	{"machine_stalls_20us_per_sec", "stalls over 20 us of a spinning thread (1/s)", "-", "(the machine's)", nil},
	{"machine_lost_pct", "time a spinning thread lost (%)", "-", "(the machine's)", nil},
	{"stream_transport_unary_p50_us", "stream transport unary p50 (us)", "-", "(comparison)", nil},
}

func printTable(w io.Writer, r map[string]float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tMEASURED\tTARGET\tRESULT\t")
	for _, t := range slices.Concat(targets, busTargets(), loadTargets()) {
		res := ""
		if t.pass != nil {
			res = "MISS"
			if t.pass(r[t.key], r) {
				res = "PASS"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.label, fmtVal(r[t.key]), t.want, res, t.note)
	}
	_ = tw.Flush()
}

func fmtVal(v float64) string {
	switch {
	case v >= 1e5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1 || v == 0:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
