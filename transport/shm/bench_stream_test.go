//go:build linux

package shm

import (
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// sinkMux serves "bench.S/Sink": a client stream whose handler counts the
// messages and answers with the count.
func sinkMux() (*session.Mux, uint64) {
	m := session.NewMux()
	id, err := m.HandleStream("bench.S", "Sink", func(ctx context.Context, st *session.Stream) error {
		var n uint64
		var msg plexus.Raw
		for {
			err := st.Recv(&msg)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			n++
		}
		var out [8]byte
		binary.LittleEndian.PutUint64(out[:], n)
		return st.Send(plexus.Raw(out[:]))
	})
	if err != nil {
		panic(err)
	}
	return m, id
}

// BenchmarkSessionStream: b.N 64-byte messages on one buffered client
// stream to a session in this process over shm.Pair (both ends in one
// profile); the figure is messages per second.
func BenchmarkSessionStream(b *testing.B) {
	h, p, err := Pair(shm.Config{}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	mux, sink := sinkMux()
	server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	b.Cleanup(func() { _ = server.Close() })
	s := session.New(h, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	st, err := s.NewStream(ctx, sink, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Buffer(true); err != nil {
		b.Fatal(err)
	}
	var msg plexus.Marshaler = plexus.Raw(make([]byte, 64))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := st.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		b.Fatal(err)
	}
	var resp plexus.Raw
	if err := st.Recv(&resp); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := binary.LittleEndian.Uint64(resp); got != uint64(b.N) {
		b.Fatalf("sink counted %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
