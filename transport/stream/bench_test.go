package stream_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

const benchPayload = 64

func benchPair(b testing.TB) (*stream.Transport, *stream.Transport) {
	x, y, err := stream.Pair(stream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Close(); _ = y.Close() })
	return x, y
}

func BenchmarkStreamPingPong(b *testing.B) {
	x, y := benchPair(b)
	b.SetBytes(2 * (wire.DescSize + benchPayload))
	transporttest.PingPong(b, x, y, benchPayload)
}

// drain receives n frames and reports the first error.
func drain(tr transport.Transport, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		var f transport.Frame
		for range n {
			if err := tr.Recv(&f); err != nil {
				done <- err
				return
			}
			tr.Release(&f)
		}
		done <- nil
	}()
	return done
}

func BenchmarkStreamThroughput(b *testing.B) {
	x, y := benchPair(b)
	payload := make([]byte, benchPayload)
	var d wire.Desc
	b.ReportAllocs()
	b.SetBytes(wire.DescSize + benchPayload)
	done := drain(y, b.N)
	b.ResetTimer()
	for range b.N {
		d.Reset()
		if err := x.Send(&d, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// countConn counts writes, to show how many frames each one carries.
type countConn struct {
	stream.Conn
	writes atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// BenchmarkStreamThroughputParallel sends from 8 goroutines at once and
// reports frames per write: above 1 means concurrent senders share writes.
func BenchmarkStreamThroughputParallel(b *testing.B) {
	x, y := benchPair(b)
	cc := &countConn{Conn: x.Conn()}
	tx := stream.New(cc, stream.Config{}) // replaces x, which is never used
	payload := make([]byte, benchPayload)
	b.ReportAllocs()
	b.SetBytes(wire.DescSize + benchPayload)
	done := drain(y, b.N)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var d wire.Desc
		for pb.Next() {
			d.Reset()
			if err := tx.Send(&d, payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/float64(max(1, cc.writes.Load())), "frames/write")
}
