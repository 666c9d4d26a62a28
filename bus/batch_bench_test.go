package bus

import (
	"context"
	"testing"
)

// BenchmarkPublishTakeBatch: one publisher goroutine sends 64-byte
// messages on one subject to one fan-out subscription (Buffer 4096,
// Block), drained by a consumer on Wait and TakeBatch(ds[:256]), Done on
// each. One op is one message through. The publisher reuses one
// Message (the bus does not modify it), so allocs/op are the bus's.
func BenchmarkPublishTakeBatch(b *testing.B) {
	ds := make([]Delivery, 256)
	benchPublishTake(b, func(ctx context.Context, s *Subscription) (int, error) {
		if err := s.Wait(ctx); err != nil {
			return 0, err
		}
		n, err := s.TakeBatch(ds[:256])
		for i := range n {
			if err := ds[i].Done(); err != nil {
				return i, err
			}
		}
		return n, err
	})
}

// BenchmarkPublishNext is BenchmarkPublishTakeBatch's loop taking one
// message at a time, TryNext then Next when it runs dry, as
// bus/buslink's pump did.
func BenchmarkPublishNext(b *testing.B) {
	benchPublishTake(b, func(ctx context.Context, s *Subscription) (int, error) {
		d, err := s.TryNext()
		if d == nil && err == nil {
			d, err = s.Next(ctx)
		}
		if err != nil {
			return 0, err
		}
		return 1, d.Done()
	})
}

// benchSubscription is a bus, closed at the benchmark's end, and its
// fan-out subscription to "bench.data" (Buffer 4096, Block).
func benchSubscription(b *testing.B) (*Bus, *Subscription) {
	bus, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	s, err := bus.Subscribe(b.Context(), "bench.data", SubOptions{Buffer: 4096, Overflow: Block})
	if err != nil {
		b.Fatal(err)
	}
	return bus, s
}

// benchPublishTake runs b.N messages through; take takes some, waiting
// if none is buffered, and returns how many.
func benchPublishTake(b *testing.B, take func(context.Context, *Subscription) (int, error)) {
	bus, s := benchSubscription(b)
	ctx := b.Context()
	msg := &Message{Subject: "bench.data", Data: make([]byte, 64)}
	b.ReportAllocs()
	b.ResetTimer()
	published := make(chan error, 1)
	go func() {
		for range b.N {
			if _, err := bus.Publish(ctx, msg); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	for got := 0; got < b.N; {
		n, err := take(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
	if err := <-published; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchSink counts what it is given; every 100 messages it says they
// were handed on, as a pump does per batch.
type benchSink struct {
	s    *Subscription
	n    int
	data [64]byte
}

func (k *benchSink) Put(d *Delivery) bool {
	copy(k.data[:], d.Data)
	k.n++
	return true
}

// BenchmarkPublishSink: one publisher goroutine sends 64-byte messages
// to one fan-out subscription whose sink takes them (Sink), the
// publisher saying every 100 that they were handed on: Publish's cost
// with a sink, alone.
func BenchmarkPublishSink(b *testing.B) {
	bus, s := benchSubscription(b)
	ctx := b.Context()
	k := &benchSink{s: s}
	if err := s.SetSink(k); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bus.Publish(ctx, &Message{Subject: "bench.data", Data: data}); err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			s.Drained(100)
		}
	}
	s.Drained(k.n % 100)
}
