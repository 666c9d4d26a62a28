package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/bench/peers/driver"
	"github.com/plexus-ipc/plexus/internal/stallprobe"
)

func main() {
	driver.MaybeHelper()
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "peerloop:", err)
		os.Exit(1)
	}
}

type config struct {
	peer    peers.Peer
	plugin  string
	figure  string
	callers int
	dur     time.Duration
	kills   int
	size    int
	gap     time.Duration
	load    string
	probe   time.Duration
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("peerloop", flag.ContinueOnError)
	name := fs.String("peer", "plexus", "peer: plexus, grpc, netrpc or uds")
	var c config
	fs.StringVar(&c.plugin, "plugin", "", "the peer's plugin binary (required)")
	fs.StringVar(&c.figure, "figure", "echo", "echo, start, kill, put, blob or copy")
	fs.IntVar(&c.callers, "c", 1, "concurrent callers (echo)")
	fs.DurationVar(&c.dur, "d", 5*time.Second, "how long to call (echo)")
	fs.DurationVar(&c.gap, "gap", 0, "pause before each call of a caller (echo): sporadic calls")
	fs.IntVar(&c.kills, "n", 10, "plugins to start (start, kill), calls a batch (put, blob)")
	mib := fs.Int("size", 64, "MiB a call moves (put, blob)")
	fs.StringVar(&c.load, "load", "idle", "condition: idle, busy or alloc")
	fs.DurationVar(&c.probe, "probe", 300*time.Millisecond, "how long to probe the machine's stalls first (0: not at all)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	i := slices.IndexFunc(driver.AllPeers, func(p peers.Peer) bool { return p.Name == *name })
	switch {
	case i < 0:
		return c, fmt.Errorf("unknown peer %q", *name)
	case c.plugin == "":
		return c, errors.New("-plugin is required")
	case !slices.Contains([]string{"echo", "start", "kill", "put", "blob", "copy"}, c.figure):
		return c, fmt.Errorf("unknown figure %q (echo, start, kill, put, blob or copy)", c.figure)
	case c.callers < 1 || c.callers > 4096:
		return c, fmt.Errorf("-c %d out of range [1, 4096]", c.callers)
	case c.dur <= 0 || c.dur > time.Hour:
		return c, fmt.Errorf("-d %v out of range (0, 1h]", c.dur)
	case c.gap < 0 || c.gap > time.Second:
		return c, fmt.Errorf("-gap %v out of range [0, 1s]", c.gap)
	case c.kills < 1 || c.kills > 1000:
		return c, fmt.Errorf("-n %d out of range [1, 1000]", c.kills)
	case c.probe < 0 || c.probe > time.Minute:
		return c, fmt.Errorf("-probe %v out of range [0, 1m]", c.probe)
	case *mib < 1 || *mib > peers.MaxBlob>>20:
		return c, fmt.Errorf("-size %d out of range [1, %d]", *mib, peers.MaxBlob>>20)
	}
	c.size = *mib << 20
	c.peer = driver.AllPeers[i]
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	c, err := parse(args)
	if err != nil {
		return err
	}
	if c.load != driver.CondIdle {
		stop, err := driver.StartCondition(c.load)
		if err != nil {
			return err
		}
		defer func() { _ = stop() }()
	}
	if c.probe > 0 {
		if err := probe(c.probe, out); err != nil {
			return err
		}
	}
	switch c.figure {
	case "start":
		return starts(ctx, c, out)
	case "kill":
		return kills(ctx, c, out)
	case "put", "blob":
		return blobs(ctx, c, out)
	case "copy":
		return copies(ctx, c, out)
	}
	return echo(ctx, c, out)
}

// probe prints the machine's stalls over d (internal/stallprobe), in
// the condition the figure is measured in, so that runs compared with
// each other can be told apart by the state the machine was in.
func probe(d time.Duration, out io.Writer) error {
	r, err := stallprobe.Measure(d)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "machine: %s\n", r)
	return err
}

// echo calls Echo from c.callers goroutines for c.dur.
func echo(ctx context.Context, c config, out io.Writer) error {
	conn, err := start(ctx, c, out)
	if err != nil {
		return err
	}
	defer conn.Close()
	msg := []byte("8 bytes!")
	for range 1000 { // warm-up
		if _, err := conn.Echo(ctx, msg); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var calls atomic.Int64
	var lat []time.Duration
	errc := make(chan error, c.callers)
	var wg sync.WaitGroup
	end := time.Now().Add(c.dur)
	for w := range c.callers {
		wg.Go(func() {
			for n := 0; ; n++ {
				// The clock is read every 64 calls, or for every call of
				// caller 0, which times its calls.
				if n%64 == 0 && time.Now().After(end) {
					return
				}
				if c.gap > 0 {
					time.Sleep(c.gap)
				}
				var t0 time.Time
				if w == 0 {
					t0 = time.Now()
				}
				got, err := conn.Echo(ctx, msg)
				if err == nil && string(got) != string(msg) {
					err = fmt.Errorf("echo %q, sent %q", got, msg)
				}
				if err != nil {
					errc <- err
					cancel()
					return
				}
				if w == 0 && len(lat) < 1<<22 {
					lat = append(lat, time.Since(t0))
				}
				calls.Add(1)
			}
		})
	}
	t0 := time.Now()
	host0, plug0 := cpuTime(os.Getpid()), cpuTime(conn.Pid())
	wg.Wait()
	el := time.Since(t0)
	host1, plug1 := cpuTime(os.Getpid()), cpuTime(conn.Pid())
	select {
	case err := <-errc:
		return err
	default:
	}
	slices.Sort(lat)
	pct := func(p int) time.Duration { return lat[min(len(lat)-1, len(lat)*p/100)] }
	fmt.Fprintf(out, "%s echo, %d callers: %.0f calls/s; caller 0: p50 %v, p90 %v, p99 %v (%d calls)\n",
		c.peer.Name, c.callers, float64(calls.Load())/el.Seconds(), pct(50), pct(90), pct(99), len(lat))
	if n := calls.Load(); n > 0 && min(host0, host1, plug0, plug1) >= 0 {
		// The processor time of each side per call: what a change to the
		// call path costs or saves, less moved by the machine's state
		// than the rate (which also counts time each side waited).
		perCall := func(a, b time.Duration) float64 { return float64(b-a) / float64(n) / 1e3 }
		fmt.Fprintf(out, "cpu a call: host %.3f us, plugin %.3f us (host %.2f, plugin %.2f processors)\n",
			perCall(host0, host1), perCall(plug0, plug1), float64(host1-host0)/float64(el), float64(plug1-plug0)/float64(el))
	}
	return nil
}

// starts starts c.kills plugins one after another, timing each start to
// the end of its first Echo (as the comparison does), and closes each.
func starts(ctx context.Context, c config, out io.Writer) error {
	var ds []time.Duration
	for i := range c.kills {
		t0 := time.Now()
		conn, err := c.peer.Start(ctx, c.plugin)
		if err != nil {
			return fmt.Errorf("start %d: %w", i, err)
		}
		_, err = conn.Echo(ctx, []byte("first!!!"))
		d := time.Since(t0)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("start %d: %w", i, err)
		}
		ds = append(ds, d)
	}
	return printMedian(out, c.peer.Name+" start to first completed call", ds)
}

// printMedian prints ds, then their median and range.
func printMedian(out io.Writer, what string, ds []time.Duration) error {
	fmt.Fprintf(out, "%s: %v\n", what, ds)
	slices.Sort(ds)
	_, err := fmt.Fprintf(out, "median %v (%v-%v)\n", ds[len(ds)/2], ds[0], ds[len(ds)-1])
	return err
}

// kills starts c.kills plugins and kills each with a caller blocked in
// Block, timing the kill to the caller's error.
func kills(ctx context.Context, c config, out io.Writer) error {
	var ds []time.Duration
	for i := range c.kills {
		d, err := killOne(ctx, c)
		if err != nil {
			return fmt.Errorf("kill %d: %w", i, err)
		}
		ds = append(ds, d)
	}
	return printMedian(out, c.peer.Name+" kill -9 to the blocked caller's error", ds)
}

func killOne(ctx context.Context, c config) (time.Duration, error) {
	conn, err := c.peer.Start(ctx, c.plugin)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Echo(ctx, []byte("first!!!")); err != nil {
		return 0, err
	}
	return driver.KillBlocked(ctx, conn)
}

// blobs runs batches of c.kills Put or Blob calls of c.size bytes for
// c.dur, each batch measured by the driver's own code (driver.PutRate,
// driver.BlobRate), and prints every batch's GB/s and their median.
func blobs(ctx context.Context, c config, out io.Writer) error {
	conn, err := start(ctx, c, out)
	if err != nil {
		return err
	}
	defer conn.Close()
	rate := driver.PutRate
	if c.figure == "blob" {
		rate = driver.BlobRate
	}
	var gbps []float64
	for end := time.Now().Add(c.dur); len(gbps) == 0 || time.Now().Before(end) && len(gbps) < 10000; {
		r, err := rate(ctx, conn, c.size, c.kills)
		if err != nil {
			return err
		}
		gbps = append(gbps, r)
	}
	fmt.Fprintf(out, "%s %s %d MiB, %d batches of %d calls: GB/s %.2f\n", c.peer.Name, c.figure, c.size>>20, len(gbps), c.kills, gbps)
	slices.Sort(gbps)
	fmt.Fprintf(out, "median %.2f (%.2f-%.2f)\n", gbps[len(gbps)/2], gbps[0], gbps[len(gbps)-1])
	return nil
}

// copies runs batches of c.kills Put and as many Blob calls of c.size
// bytes for c.dur, each batch measured as the comparison does
// (driver.CopyRates: the two in alternating turns), and prints every
// batch's Blob/Put ratio and both directions' median GB/s.
func copies(ctx context.Context, c config, out io.Writer) error {
	conn, err := start(ctx, c, out)
	if err != nil {
		return err
	}
	defer conn.Close()
	var puts, blobs, ratios []float64
	for end := time.Now().Add(c.dur); len(puts) == 0 || time.Now().Before(end) && len(puts) < 10000; {
		p, b, err := driver.CopyRates(ctx, conn, c.size, c.kills)
		if err != nil {
			return err
		}
		puts, blobs, ratios = append(puts, p), append(blobs, b), append(ratios, b/p)
	}
	fmt.Fprintf(out, "%s copy %d MiB, %d batches of %d calls each way: Blob/Put %.2f\n", c.peer.Name, c.size>>20, len(puts), c.kills, ratios)
	for _, f := range []struct {
		name string
		v    []float64
	}{{"put GB/s", puts}, {"blob GB/s", blobs}, {"blob/put", ratios}} {
		slices.Sort(f.v)
		fmt.Fprintf(out, "%s: median %.2f (%.2f-%.2f)\n", f.name, f.v[len(f.v)/2], f.v[0], f.v[len(f.v)-1])
	}
	return nil
}

// start starts c's plugin and prints both process IDs, for perf to attach
// to.
func start(ctx context.Context, c config, out io.Writer) (peers.Conn, error) {
	conn, err := c.peer.Start(ctx, c.plugin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "host pid %d, plugin pid %d\n", os.Getpid(), conn.Pid())
	return conn, nil
}
