//go:build linux

package shmlink

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// The benchmarks start a real second process. ns/op is per round trip
// (ping-pong) or per frame sent (one-way); p50/p99 come from per-operation
// timings, because on a noisy 2-core machine the mean hides what matters.
// BenchmarkUDSPingPong, the yardstick, runs in the same invocation.

func init() {
	xproc.Register("shm-bench-echo", benchEcho)
	xproc.Register("shm-bench-sink", benchSink)
}

// benchEcho sends every frame back (copying its payload) until the link
// ends.
func benchEcho() int {
	tr, err := OpenInherited(3, shm.Config{NoSpin: xproc.Arg("NOSPIN") != ""}, Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench echo:", err)
		return 1
	}
	defer tr.Close()
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			return exitOnDeath(err)
		}
		err := tr.Send(&f.Desc, f.Payload)
		tr.Release(&f)
		if err != nil {
			return exitOnDeath(err)
		}
	}
}

// benchSink releases every frame; with ACK set it answers each with an
// empty frame. A kindStop frame is answered with the count received (Aux).
func benchSink() int {
	tr, err := OpenInherited(3, shm.Config{}, Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench sink:", err)
		return 1
	}
	defer tr.Close()
	ack := xproc.Arg("ACK") != ""
	var f transport.Frame
	var d wire.Desc
	n := uint64(0)
	for {
		if err := tr.Recv(&f); err != nil {
			return exitOnDeath(err)
		}
		stop := f.Desc.Kind() == kindStop
		tr.Release(&f)
		d.Reset()
		switch {
		case stop:
			d.SetKind(kindStop)
			d.SetAux(n)
			n = 0
		case ack:
			n++
			d.SetKind(kindData)
		default:
			n++
			continue
		}
		if err := tr.Send(&d, nil); err != nil {
			return exitOnDeath(err)
		}
	}
}

func exitOnDeath(err error) int {
	if errors.Is(err, plexus.ErrPeerDied) {
		return 0
	}
	fmt.Fprintln(os.Stderr, "bench child:", err)
	return 1
}

func benchLink(b *testing.B, helper string, scfg shm.Config, args map[string]string) *Transport {
	l, err := NewLink(scfg)
	if err != nil {
		b.Fatal(err)
	}
	child := xproc.Start(b, helper, l.PluginFiles(), args)
	l.ClosePluginFiles()
	host, err := l.Transport(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = host.Close()
		if err := child.Wait(30 * time.Second); err != nil {
			b.Errorf("child: %v", err)
		}
	})
	return host
}

// latencies keeps per-operation timings, a sample of every 2^shift-th
// operation when the clock would weigh on a fast loop.
type latencies struct {
	d     []time.Duration
	shift uint
}

func newLatencies(shift uint) *latencies {
	return &latencies{d: make([]time.Duration, 0, 1<<16), shift: shift}
}

func (l *latencies) sample(i int) bool { return i&(1<<l.shift-1) == 0 && len(l.d) < cap(l.d) }

func (l *latencies) report(b *testing.B) {
	if len(l.d) > 0 {
		udsbench.ReportLatency(b, l.d)
	}
}

// stopSink asks a sink for its count and checks it.
func stopSink(b *testing.B, tr *Transport, want int) {
	var d wire.Desc
	d.SetKind(kindStop)
	if err := tr.Send(&d, nil); err != nil {
		b.Fatal(err)
	}
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			b.Fatal(err)
		}
		kind, n := f.Desc.Kind(), f.Desc.Aux()
		tr.Release(&f)
		if kind == kindStop {
			if n != uint64(want) {
				b.Fatalf("sink received %d frames, want %d", n, want)
			}
			return
		}
	}
}

// BenchmarkPingPong: a frame with a 16-byte (inline) payload to the child
// and back, with both sides spinning for the default 20 us before they park
// ("spin") or parking at once ("park", shm.Config.NoSpin).
func BenchmarkPingPong(b *testing.B) {
	for _, mode := range []string{"spin", "park"} {
		b.Run(mode, func(b *testing.B) {
			scfg, args := shm.Config{}, map[string]string(nil)
			if mode == "park" {
				scfg.NoSpin, args = true, map[string]string{"NOSPIN": "1"}
			}
			tr := benchLink(b, "shm-bench-echo", scfg, args)
			payload := make([]byte, 16)
			lat := newLatencies(0)
			var d wire.Desc
			var f transport.Frame
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				d.Reset()
				d.SetKind(kindData)
				if err := tr.Send(&d, payload); err != nil {
					b.Fatal(err)
				}
				if err := tr.Recv(&f); err != nil {
					b.Fatal(err)
				}
				tr.Release(&f)
				if lat.sample(i) {
					lat.d = append(lat.d, time.Since(t0))
				}
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// BenchmarkOneWay: frames to a child that releases them, as fast as the
// sender can go: "desc" carries no payload (the frame is the 64-byte
// descriptor), "64B" a 64-byte payload in a slot. ns/op is per frame;
// p50/p99 are of one Send (sampled).
func BenchmarkOneWay(b *testing.B) {
	for _, size := range []int{0, 64} {
		name := "desc"
		if size > 0 {
			name = strconv.Itoa(size) + "B"
		}
		b.Run(name, func(b *testing.B) {
			tr := benchLink(b, "shm-bench-sink", shm.Config{}, nil)
			payload := make([]byte, size)
			lat := newLatencies(4)
			var d wire.Desc
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				var t0 time.Time
				if lat.sample(i) {
					t0 = time.Now()
				}
				d.Reset()
				d.SetKind(kindData)
				if err := tr.Send(&d, payload); err != nil {
					b.Fatal(err)
				}
				if !t0.IsZero() {
					lat.d = append(lat.d, time.Since(t0))
				}
			}
			stopSink(b, tr, b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mframes/s")
			lat.report(b)
		})
	}
}

// bulk sends b.N payloads of size bytes to a sink, keeping at most window
// unacknowledged when the sink acks (so that blobs cannot pile up), and
// reports throughput (b.SetBytes) and per-operation latency (time until
// Send returned).
func bulk(b *testing.B, size, window int, ack bool, send func(tr *Transport, d *wire.Desc, src []byte) error) {
	var args map[string]string
	if ack {
		args = map[string]string{"ACK": "1"}
	}
	tr := benchLink(b, "shm-bench-sink", shm.Config{}, args)
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	lat := newLatencies(0)
	inFlight := 0
	var d wire.Desc
	var f transport.Frame
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if ack && inFlight == window {
			if err := tr.Recv(&f); err != nil {
				b.Fatal(err)
			}
			tr.Release(&f)
			inFlight--
		}
		t0 := time.Now()
		d.Reset()
		d.SetKind(kindData)
		if err := send(tr, &d, src); err != nil {
			b.Fatal(err)
		}
		if lat.sample(i) {
			lat.d = append(lat.d, time.Since(t0))
		}
		inFlight++
	}
	for ack && inFlight > 0 {
		if err := tr.Recv(&f); err != nil {
			b.Fatal(err)
		}
		tr.Release(&f)
		inFlight--
	}
	stopSink(b, tr, b.N)
	b.StopTimer()
	lat.report(b)
}

func sendCopy(tr *Transport, d *wire.Desc, src []byte) error { return tr.Send(d, src) }

// sendInPlace writes the payload straight into transport memory (an
// encoder would), then sends it by reference.
func sendInPlace(tr *Transport, d *wire.Desc, src []byte) error {
	buf, err := tr.Alloc(len(src))
	if err != nil {
		return err
	}
	copy(buf, src)
	return tr.Send(d, buf)
}

// Benchmark1MiB: a 1 MiB payload copied once into a slot from caller
// memory ("copy"), or written in place into a slot from Alloc ("alloc").
// The sink releases each at once; the 8 slots of the 1 MiB class bound
// what is in flight.
func Benchmark1MiB(b *testing.B) {
	b.Run("copy", func(b *testing.B) { bulk(b, 1<<20, 0, false, sendCopy) })
	b.Run("alloc", func(b *testing.B) { bulk(b, 1<<20, 0, false, sendInPlace) })
}

// Benchmark64MiB: a 64 MiB payload in a blob, copied once from caller
// memory into a blob buffer ("copy") or written in place into a blob
// buffer from Alloc ("lease"); the child process receives it, releases it
// (the buffer goes back to the sender) and acknowledges, with at most two
// in flight. Steady state: the first frames, which create the buffers, run
// before the timer (see bulkBlobs; cold_ms is the first one's Send). Both
// copy the payload from a 64 MiB source, as fast as memory allows;
// "lease-fill" writes it without reading anything (sendFilled), which
// shows what the transport adds to a producer that writes in place.
func Benchmark64MiB(b *testing.B) {
	b.Run("copy", func(b *testing.B) { bulkBlobs(b, 64<<20, 2, 8, sendCopy) })
	b.Run("lease", func(b *testing.B) { bulkBlobs(b, 64<<20, 2, 8, sendInPlace) })
	b.Run("lease-fill", func(b *testing.B) { bulkBlobs(b, 64<<20, 2, 8, sendFilled) })
}

// BenchmarkUDSPingPong is the yardstick: 64-byte messages over a Unix
// socket to a child process and back.
func BenchmarkUDSPingPong(b *testing.B) { udsbench.Benchmark(b) }
