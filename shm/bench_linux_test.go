package shm

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/wire"
)

// The benchmarks here start a real second process; ns/op is a round trip
// between the two, and p50/p99 are reported as metrics because on a noisy
// 2-core machine the mean hides what matters.

const kindStop = 255

func init() {
	xproc.Register("shm-bell-echo", func() int {
		seg, err := Open(FdsFrom(3), Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer seg.Close()
		n, _ := strconv.Atoi(xproc.Arg("N"))
		in, out := seg.bells[0][HostToPlugin], seg.bells[0][PluginToHost]
		for range n {
			if err := in.Wait(30 * time.Second); err != nil {
				fmt.Fprintln(os.Stderr, "bell echo:", err)
				return 1
			}
			if err := out.Wake(); err != nil {
				return 1
			}
		}
		return 0
	})
	xproc.Register("shm-echo", func() int {
		cfg := Config{}
		if xproc.Arg("NOSPIN") != "" {
			cfg.NoSpin = true
		}
		seg, err := Open(FdsFrom(3), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer seg.Close()
		e, err := seg.Endpoint()
		if err != nil {
			return 1
		}
		var d [16]wire.Desc
		for {
			n, err := e.Recv(d[:], 60*time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, "echo:", err)
				return 1
			}
			if d[n-1].Kind() == kindStop {
				return 0
			}
			if _, err := e.Send(d[:n]); err != nil {
				return 1
			}
		}
	})
}

func startPeer(b *testing.B, name string, cfg Config, args map[string]string) *Segment {
	seg, err := Create(cfg)
	if err != nil {
		b.Fatal(err)
	}
	files, err := seg.Files()
	if err != nil {
		b.Fatal(err)
	}
	child := xproc.Start(b, name, files, args)
	for _, f := range files {
		f.Close()
	}
	b.Cleanup(func() {
		if err := child.Wait(30 * time.Second); err != nil {
			b.Errorf("peer: %v", err)
		}
		seg.Close()
	})
	return seg
}

// BenchmarkDoorbellRoundTrip: the parent rings an eventfd, the child blocked
// in ppoll wakes and rings another back. Both sides sleep in the kernel
// every time: this is the floor of a "sporadic" round trip.
func BenchmarkDoorbellRoundTrip(b *testing.B) {
	seg := startPeer(b, "shm-bell-echo", Config{}, map[string]string{"N": strconv.Itoa(b.N)})
	out, in := seg.bells[0][HostToPlugin], seg.bells[0][PluginToHost]
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := out.Wake(); err != nil {
			b.Fatal(err)
		}
		if err := in.Wait(30 * time.Second); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	udsbench.ReportLatency(b, lat)
}

// BenchmarkEndpointPingPong: one descriptor to the child and back through
// the rings. "hot" spins 20us before parking (the peer is awake between
// round trips); "parked" never spins, so every receive sleeps on the
// doorbell and every send rings it.
func BenchmarkEndpointPingPong(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSpin bool
	}{{"hot", false}, {"parked", true}} {
		b.Run(mode.name, func(b *testing.B) {
			args := map[string]string{}
			if mode.noSpin {
				args["NOSPIN"] = "1"
			}
			seg := startPeer(b, "shm-echo", Config{NoSpin: mode.noSpin}, args)
			e, err := seg.Endpoint()
			if err != nil {
				b.Fatal(err)
			}
			var d, r [1]wire.Desc
			lat := make([]time.Duration, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				d[0].SetChannel(uint64(i))
				if _, err := e.Send(d[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Recv(r[:], 30*time.Second); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(t0)
				if r[0].Channel() != uint64(i) {
					b.Fatalf("echo %d for %d", r[0].Channel(), i)
				}
			}
			b.StopTimer()
			udsbench.ReportLatency(b, lat)
			d[0].SetKind(kindStop)
			if _, err := e.Send(d[:]); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkEndpointStream: one-way descriptors in batches of 16 to a child
// that echoes each batch; reported per descriptor each way.
func BenchmarkEndpointStream(b *testing.B) {
	seg := startPeer(b, "shm-echo", Config{}, nil)
	e, err := seg.Endpoint()
	if err != nil {
		b.Fatal(err)
	}
	var d, r [16]wire.Desc
	b.ReportAllocs()
	b.ResetTimer()
	sent, recvd := 0, 0
	for sent < b.N {
		n := min(len(d), b.N-sent)
		k, err := e.Send(d[:n])
		if err != nil {
			b.Fatal(err)
		}
		sent += k
		for recvd < sent-4*len(d) || (sent == b.N && recvd < sent) {
			m, err := e.Recv(r[:], 30*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			recvd += m
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mdesc/s")
	d[0].SetKind(kindStop)
	if _, err := e.Send(d[:1]); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEndpointAllocRelease: a slot allocated on one side and released
// by the other (same process here: the cost is the shared free list).
func BenchmarkEndpointAllocRelease(b *testing.B) {
	seg, err := Create(smallConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	e, err := seg.Endpoint()
	if err != nil {
		b.Fatal(err)
	}
	peerPool := seg.m.pools[HostToPlugin]
	b.ReportAllocs()
	for b.Loop() {
		s, err := e.Alloc(200)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := peerPool.Free(s.Index, s.Gen); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUDSPingPong is the yardstick measured in the same run.
func BenchmarkUDSPingPong(b *testing.B) { udsbench.Benchmark(b) }
