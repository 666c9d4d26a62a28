package shmlink

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestParallelCopy: every byte of src lands in dst and nothing past it is
// written, at sizes around the threshold and the chunk, whatever the
// number of processors.
func TestParallelCopy(t *testing.T) {
	sizes := []int{0, 1, parallelCopyChunk - 1, parallelCopyMin - 1, parallelCopyMin,
		parallelCopyMin + 12345, 5*parallelCopyChunk + 7, 64<<20 + 3}
	for _, procs := range []int{1, 2, 8} {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("procs=%d/n=%d", procs, n), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				src := make([]byte, n)
				for i := range src {
					src[i] = byte(i*7 + i>>12)
				}
				dst := bytes.Repeat([]byte{0xA5}, n+64)
				if got := parallelCopy(dst, src); got != n {
					t.Fatalf("parallelCopy returned %d, want %d", got, n)
				}
				if i := firstDiff(dst[:n], src); i >= 0 {
					t.Fatalf("byte %d of %d: got %#x, want %#x", i, n, dst[i], src[i])
				}
				for i, b := range dst[n:] {
					if b != 0xA5 {
						t.Fatalf("byte %d past the end written (%#x)", i, b)
					}
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// BenchmarkParallelCopy against copy, into heap memory (the transport's
// buffers are mapped memfds; cmd/plexus bench and bench/peers measure
// those).
func BenchmarkParallelCopy(b *testing.B) {
	for _, n := range []int{1 << 20, 4 << 20, 64 << 20} {
		src, dst := make([]byte, n), make([]byte, n)
		b.Run(fmt.Sprintf("copy/%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(fmt.Sprintf("parallel/%dMiB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				parallelCopy(dst, src)
			}
		})
	}
}

// TestParallelCopyHelpersMayStop: helpers that stop at once, or are one
// too many, leave their chunks to the sender, which copies every byte
// alone; a helper with a chunk finishes it whatever stop says.
func TestParallelCopyHelpersMayStop(t *testing.T) {
	n := 3*parallelCopyChunk + 5
	src := make([]byte, n)
	for i := range src {
		src[i] = byte(i * 13)
	}
	dst := make([]byte, n)
	pc := newChunkCopy(dst, src)
	stops := 0
	pc.help(func() bool { stops++; return stops > 1 }) // one chunk, then stops
	for range parallelCopyMax + 2 {
		pc.help(func() bool { return true })
	}
	if got := pc.next.Load(); got != 1 {
		t.Fatalf("helpers took %d chunks, want 1", got)
	}
	done := make(chan struct{})
	go func() { pc.run(never); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender's run did not end")
	}
	select {
	case <-pc.done:
	default:
		t.Fatal("done not closed with every chunk copied")
	}
	if i := firstDiff(dst, src); i >= 0 {
		t.Fatalf("byte %d differs", i)
	}
}
