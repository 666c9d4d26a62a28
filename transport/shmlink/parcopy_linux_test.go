package shmlink

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
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
