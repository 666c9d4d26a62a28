//go:build linux

package shmlink

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/benchsvc"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// Session-level figures over this transport, to compare with the raw
// transport ping-pong (BenchmarkPingPong) and see what the session layer's
// goroutines add on top of it.

func echoMux() (*session.Mux, uint64) {
	m := session.NewMux()
	id, err := m.HandleUnary("bench.S", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	})
	if err != nil {
		panic(err)
	}
	if _, err := m.HandleUnary("bench.S", "Size", benchsvc.Size); err != nil {
		panic(err)
	}
	if _, err := m.HandleStream("bench.S", "Sink", benchsvc.Sink); err != nil {
		panic(err)
	}
	return m, id
}

// BenchmarkSessionLease: a unary call whose request is a 1 MiB lease,
// filled in place from a warm source and sent without a copy, to a
// session in a child process that answers its length (plexus bench's
// blob_1mib_lease_us).
func BenchmarkSessionLease(b *testing.B) {
	const n = 1 << 20
	host := benchLink(b, "shm-bench-session", shm.Config{}, nil)
	s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() { _ = s.Close() })
	size := plexus.MethodID("bench.S", "Size")
	src := make([]byte, n)
	for i := range src {
		src[i] = byte(i)
	}
	ctx := context.Background()
	var resp plexus.Raw
	lat := newLatencies(0)
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		l, err := s.Alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		copy(l.Bytes(), src)
		if err := s.Invoke(ctx, size, l, &resp); err != nil {
			b.Fatal(err)
		}
		if binary.LittleEndian.Uint64(resp) != n {
			b.Fatalf("the child saw %d bytes", binary.LittleEndian.Uint64(resp))
		}
		if lat.sample(i) {
			lat.d = append(lat.d, time.Since(t0))
		}
	}
	b.StopTimer()
	lat.report(b)
}

func init() {
	xproc.Register("shm-bench-session", func() int {
		tr, err := OpenInherited(3, shm.Config{NoSpin: xproc.Arg("NOSPIN") != ""}, Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "session child:", err)
			return 1
		}
		mux, _ := echoMux()
		s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
		<-s.Done()
		return 0
	})
}

// BenchmarkSessionUnary: a unary call with a 16-byte request and response
// through the session layer, to a session in this process ("in-process")
// or in a child process, with the default spinning ("cross-process") or
// none ("cross-process-park").
func BenchmarkSessionUnary(b *testing.B) {
	_, echo := echoMux()
	for _, mode := range []string{"in-process", "cross-process", "cross-process-deadline", "cross-process-park", "cross-process-sporadic"} {
		b.Run(mode, func(b *testing.B) {
			var host *Transport
			switch mode {
			case "cross-process", "cross-process-deadline", "cross-process-sporadic":
				host = benchLink(b, "shm-bench-session", shm.Config{}, nil)
			case "cross-process-park":
				host = benchLink(b, "shm-bench-session", shm.Config{NoSpin: true}, map[string]string{"NOSPIN": "1"})
			default:
				h, p, err := Pair(shm.Config{}, Config{})
				if err != nil {
					b.Fatal(err)
				}
				host = h
				mux, _ := echoMux()
				server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
				b.Cleanup(func() { _ = server.Close() })
			}
			s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
			b.Cleanup(func() { _ = s.Close() })
			ctx := context.Background()
			if mode == "cross-process-deadline" {
				// A caller's context with a deadline (a minute away), as
				// most callers' are: the handler's side gets it too.
				c, cancel := context.WithTimeout(ctx, time.Minute)
				b.Cleanup(cancel)
				ctx = c
			}
			var req plexus.Marshaler = plexus.Raw("0123456789abcdef") // boxed once: the conversion is the caller's cost, not the call's
			var resp plexus.Raw
			lat := newLatencies(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if mode == "cross-process-sporadic" {
					// Both sides park between calls (the brief's
					// "sporadic" figure).
					time.Sleep(time.Millisecond)
				}
				t0 := time.Now()
				if err := s.Invoke(ctx, echo, req, &resp); err != nil {
					b.Fatal(err)
				}
				if lat.sample(i) {
					lat.d = append(lat.d, time.Since(t0))
				}
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// BenchmarkSessionConcurrent: 64 goroutines make unary calls at once to a
// session in a child process; the figure is calls per second.
func BenchmarkSessionConcurrent(b *testing.B) {
	_, echo := echoMux()
	host := benchLink(b, "shm-bench-session", shm.Config{}, nil)
	s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() { _ = s.Close() })
	var req plexus.Marshaler = plexus.Raw("0123456789abcdef")
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 processors
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var resp plexus.Raw
		ctx := context.Background()
		for pb.Next() {
			if err := s.Invoke(ctx, echo, req, &resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
