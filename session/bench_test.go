//go:build unix

package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// benchMux serves what the benchmarks call: a unary echo and a stream that
// counts what it receives.
func benchMux() (*Mux, uint64, uint64) {
	m := NewMux()
	echo, _ := m.HandleUnary("bench.S", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	})
	sink, _ := m.HandleStream("bench.S", "Sink", func(ctx context.Context, st *Stream) error {
		n := 0
		for {
			err := st.Recv(nil)
			if err == io.EOF {
				return st.Send(plexus.Raw(fmt.Sprint(n)))
			}
			if err != nil {
				return err
			}
			n++
		}
	})
	return m, echo, sink
}

func init() {
	xproc.Register("session-serve-stream", func() int {
		f := xproc.File(0)
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return 1
		}
		mux, _, _ := benchMux()
		s := New(stream.New(c, stream.Config{}), Config{Role: Acceptor, Mux: mux, KeepaliveIdle: -1})
		<-s.Done()
		return 0
	})
}

// crossProcessStream starts a child serving benchMux over one end of a Unix
// socketpair and returns the host session on the other.
func crossProcessStream(b *testing.B) *Session {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	// Neither end may leak into other children; ExtraFiles dups the
	// child's end for it.
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	mine, theirs := os.NewFile(uintptr(fds[0]), "host"), os.NewFile(uintptr(fds[1]), "plugin")
	child := xproc.Start(b, "session-serve-stream", []*os.File{theirs}, nil)
	theirs.Close()
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		b.Fatal(err)
	}
	s := New(stream.New(c, stream.Config{}), Config{Role: Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() {
		s.Close()
		if err := child.Wait(10 * time.Second); err != nil {
			b.Logf("child: %v", err)
		}
	})
	return s
}

func inProcessStream(b *testing.B) *Session {
	mux, _, _ := benchMux()
	x, y, err := stream.Pair(stream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	server := New(y, Config{Role: Acceptor, Mux: mux, KeepaliveIdle: -1})
	client := New(x, Config{Role: Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() { client.Close(); server.Close() })
	return client
}

// BenchmarkUnaryUnixSocket: a tiny unary call over the Unix-socket
// transport, in one process and between two processes; ns/op is the round
// trip and allocs/op the allocations of both sides in this process.
func BenchmarkUnaryUnixSocket(b *testing.B) {
	_, echo, _ := benchMux()
	for _, mode := range []struct {
		name string
		make func(*testing.B) *Session
	}{{"in-process", inProcessStream}, {"cross-process", crossProcessStream}} {
		b.Run(mode.name, func(b *testing.B) {
			s := mode.make(b)
			ctx := context.Background()
			// Boxed once: converting a slice to an interface allocates,
			// and that cost belongs to the caller, not to the call.
			var req plexus.Marshaler = plexus.Raw("0123456789abcdef")
			var resp plexus.Raw
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if err := s.Invoke(ctx, echo, req, &resp); err != nil {
					b.Fatal(err)
				}
				if i < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			b.StopTimer()
			udsbench.ReportLatency(b, lat)
		})
	}
}

// BenchmarkStreamUnixSocket: one-way client stream of 64-byte messages to a
// handler in another process; ns/op is per message.
func BenchmarkStreamUnixSocket(b *testing.B) {
	_, _, sink := benchMux()
	s := crossProcessStream(b)
	ctx := context.Background()
	var msg plexus.Marshaler = plexus.Raw(make([]byte, 64)) // boxed once, as in the unary benchmark
	b.ReportAllocs()
	b.ResetTimer()
	st, err := s.NewStream(ctx, sink, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if err := st.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		b.Fatal(err)
	}
	var n plexus.Raw
	if err := st.Recv(&n); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if string(n) != fmt.Sprint(b.N) {
		b.Fatalf("handler received %s messages, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkUDSPingPong is the yardstick measured in the same run.
func BenchmarkUDSPingPong(b *testing.B) { udsbench.Benchmark(b) }
