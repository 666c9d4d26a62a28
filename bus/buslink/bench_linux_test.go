package buslink_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// benchLink links one in-process "plugin" to mux over a shared-memory
// pair and returns its bus client.
func benchLink(b *testing.B, mux *session.Mux) *buslink.Client {
	b.Helper()
	ht, pt, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	if err != nil {
		b.Fatal(err)
	}
	hs := session.New(ht, session.Config{Role: session.Initiator, Mux: mux, KeepaliveIdle: -1})
	ps := session.New(pt, session.Config{Role: session.Acceptor, KeepaliveIdle: -1})
	b.Cleanup(func() {
		_ = ps.Close()
		_ = hs.Close()
	})
	return buslink.NewClient(ps)
}

// benchFanOut publishes b.N 64-byte messages on the host's bus to subs
// remote subscribers (a queue group of them if queue) over shared
// memory, and reports the messages consumed (Next and Done) per second.
func benchFanOut(b *testing.B, subs int, queue bool) {
	ctx := context.Background()
	bb, err := bus.New(bus.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	mux := session.NewMux()
	if err := buslink.Register(mux, bb); err != nil {
		b.Fatal(err)
	}
	opts := bus.SubOptions{Buffer: 4096, Overflow: bus.Block}
	if queue {
		opts.Queue = "q"
	}
	target := int64(b.N) * int64(subs)
	if queue {
		target = int64(b.N)
	}
	var consumed atomic.Int64
	all := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var ss []*buslink.Subscription
	for range subs {
		s, err := benchLink(b, mux).Subscribe(ctx, "bench.x", opts)
		if err != nil {
			b.Fatal(err)
		}
		ss = append(ss, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := s.Next(cctx)
				if err != nil {
					return
				}
				_ = d.Done()
				if consumed.Add(1) == target {
					close(all)
				}
			}
		}()
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bb.Publish(ctx, &bus.Message{Subject: "bench.x", Data: data}); err != nil {
			b.Fatal(i, err)
		}
	}
	<-all
	b.StopTimer()
	b.ReportMetric(float64(target)/b.Elapsed().Seconds(), "msgs/s")
	cancel()
	wg.Wait()
	for _, s := range ss {
		s.Unsubscribe()
	}
}

func BenchmarkFanOut1(b *testing.B) { benchFanOut(b, 1, false) }
func BenchmarkFanOut4(b *testing.B) { benchFanOut(b, 4, false) }
func BenchmarkQueue4(b *testing.B)  { benchFanOut(b, 4, true) }
