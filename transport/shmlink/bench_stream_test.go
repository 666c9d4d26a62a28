//go:build linux

package shmlink

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// BenchmarkSessionStream: b.N 64-byte messages on one buffered client
// stream to a session in this process over shm.Pair ("in-process", both
// ends in one profile) or in a child process ("cross-process", plexus
// bench's stream_msgs_per_sec); the figure is messages per second.
func BenchmarkSessionStream(b *testing.B) {
	for _, mode := range []string{"in-process", "cross-process"} {
		b.Run(mode, func(b *testing.B) { benchStream(b, mode == "cross-process") })
	}
}

func benchStream(b *testing.B, xp bool) {
	sink := plexus.MethodID("bench.S", "Sink")
	var h *Transport
	if xp {
		h = benchLink(b, "shm-bench-session", shm.Config{}, nil)
	} else {
		host, p, err := Pair(shm.Config{}, Config{})
		if err != nil {
			b.Fatal(err)
		}
		h = host
		mux, _ := echoMux()
		server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
		b.Cleanup(func() { _ = server.Close() })
	}
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
