package ring

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/wire"
)

func BenchmarkPushPopOne(b *testing.B) {
	p, c, _ := newRing(b, 1024)
	in := descFor(1)
	var out Desc
	b.ReportAllocs()
	b.SetBytes(CellSize)
	for b.Loop() {
		if ok, _, err := p.PushOne((*Cell)(&in)); !ok || err != nil {
			b.Fatalf("PushOne = %v, %v", ok, err)
		}
		if ok, _, err := c.PopOne((*Cell)(&out)); !ok || err != nil {
			b.Fatalf("PopOne = %v, %v", ok, err)
		}
	}
	if out != in {
		b.Fatal("descriptor damaged")
	}
}

// BenchmarkPushPopBatch16 counts one op per descriptor, so ns/op compares
// directly with BenchmarkPushPopOne.
func BenchmarkPushPopBatch16(b *testing.B) {
	const batch = 16
	p, c, _ := newRing(b, 1024)
	var in, out [batch]Desc
	for i := range in {
		makeDesc(&in[i], uint64(i))
	}
	b.ReportAllocs()
	b.SetBytes(CellSize)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		k := min(batch, b.N-i)
		if n, _, err := p.Push(wire.Cells(in[:k])); n != k || err != nil {
			b.Fatalf("Push(%d) = %d, %v", k, n, err)
		}
		if n, _, err := c.Pop(wire.Cells(out[:k])); n != k || err != nil {
			b.Fatalf("Pop(%d) = %d, %v", k, n, err)
		}
	}
	b.StopTimer()
	if out[0] != in[0] {
		b.Fatal("descriptor damaged")
	}
}

// spinBudget bounds how long a spin loop waits for its peer to make any
// progress: a stuck peer fails the benchmark instead of hanging it.
const spinBudget = 30 * time.Second

var errSpinTimeout = errors.New("peer made no progress within the spin budget")

// spinner bounds a spin-poll loop: it fails only when the peer made no
// progress for spinBudget, so a run that is merely slow (a loaded machine,
// -race) is not cut short, while a dead peer is noticed. It yields to the Go
// scheduler and reads the clock only now and then, so that a poll stays
// cheap. After sleepAfter misses in a row it sleeps between polls: on an
// oversubscribed machine a spinner would otherwise burn the time slice its
// peer needs. Tests want that early; benchmarks late, since every sleep is
// added latency.
type spinner struct {
	deadline   time.Time
	misses     int
	sleepAfter int
	progressed bool
}

func newSpinner(patient bool) spinner {
	s := spinner{deadline: time.Now().Add(spinBudget), sleepAfter: 1 << 20}
	if patient {
		s.sleepAfter = 1 << 12
	}
	return s
}

// progress records that the peer moved; it costs no clock read.
func (s *spinner) progress() {
	s.misses = 0
	s.progressed = true
}

func (s *spinner) miss() error {
	s.misses++
	sleeping := s.misses > s.sleepAfter
	switch {
	case sleeping:
		time.Sleep(20 * time.Microsecond)
	case s.misses&63 == 0:
		runtime.Gosched()
	}
	if sleeping || s.misses&1023 == 0 {
		now := time.Now()
		if s.progressed {
			s.deadline, s.progressed = now.Add(spinBudget), false
		} else if now.After(s.deadline) {
			return errSpinTimeout
		}
	}
	return nil
}

// BenchmarkSPSC streams b.N descriptors between two goroutines on heap
// memory, both sides spinning (yielding to the scheduler now and then), so
// it measures the ring and the cache-line traffic, not the doorbells. One op
// is one descriptor.
func BenchmarkSPSC(b *testing.B) {
	const batch = 32
	p, c, _ := newRing(b, 1024)
	total := uint64(b.N)
	done := make(chan error, 1)
	b.ReportAllocs()
	b.SetBytes(CellSize)
	b.ResetTimer()
	start := time.Now()

	go func() {
		var out [batch]Desc
		var seq uint64
		sp := newSpinner(false)
		for seq < total {
			n, _, err := c.Pop(wire.Cells(out[:]))
			if err != nil {
				done <- err
				return
			}
			for i := range n {
				// Only the sequence: the checksum would dominate.
				if out[i].Channel() != seq {
					done <- checkDesc(&out[i], seq)
					return
				}
				seq++
			}
			if n > 0 {
				sp.progress()
			} else if err := sp.miss(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	var in [batch]Desc
	for i := range in {
		makeDesc(&in[i], 0)
	}
	sp := newSpinner(false)
	var seq uint64
	for seq < total {
		k := min(uint64(batch), total-seq)
		for i := range k {
			in[i].SetChannel(seq + i)
		}
		n, _, err := p.Push(wire.Cells(in[:k]))
		if err != nil {
			b.Fatal(err)
		}
		seq += uint64(n)
		if n > 0 {
			sp.progress()
		} else if err := sp.miss(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "desc/s")
}
