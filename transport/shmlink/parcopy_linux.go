package shmlink

import (
	"runtime"
	"sync/atomic"

	"github.com/plexus-ipc/plexus/shm"
)

// Large copies into transport memory are split across the processors.
// One core copying from a buffer far larger than its caches is bound by
// how many cache misses it can have in flight, not by the memory's
// bandwidth: a 64 MiB copy into a mapped memfd ran at 16 GB/s on one core
// of the Intel machine and 31 GB/s on two (BENCHMARKS.md). So, as Plasma's
// object store does, a payload of parallelCopyMin bytes or more is copied
// in chunks that the sending goroutine and up to parallelCopyMax-1
// helper goroutines take from a shared counter.
//
// The helpers are new goroutines, which run at once where a processor is
// idle, and the threads of this process parked on doorbells (shm.Assist):
// a parked thread holds its processor, so while a link's reader sleeps no
// new goroutine can have it (on two processors, a host's copy found none
// in most calls). The sender never waits for a helper to start: it takes
// chunks itself until none are left and then waits only for chunks a
// helper has already taken. On a machine with no idle processor the
// helpers run late, find nothing left and return, and the copy costs what
// a plain copy does.
const (
	parallelCopyMin   = 2 << 20
	parallelCopyChunk = 256 << 10
	parallelCopyMax   = 4
)

// parallelCopy copies src into dst (len(dst) >= len(src)) and returns
// len(src), as copy does, using the processors that are free for a large
// src. It returns only once every byte is written; no helper touches dst
// or src afterwards.
func parallelCopy(dst, src []byte) int {
	n := len(src)
	workers := min(runtime.GOMAXPROCS(0), parallelCopyMax, n/parallelCopyChunk)
	if n < parallelCopyMin || workers < 2 {
		return copy(dst, src)
	}
	pc := newChunkCopy(dst[:n], src)
	end := shm.Assist(pc.help)
	for range workers - 1 {
		go pc.help(never)
	}
	pc.run(never)
	end()
	<-pc.done
	return n
}

// chunkCopy is one parallelCopy: next is the next chunk to take, copied
// the chunks finished; whoever finishes the last chunk closes done. helpers
// counts the goroutines that came to help, of which at most
// parallelCopyMax-1 take chunks.
//
// The sender's own run never stops before the chunks are all taken, and a
// helper looks at its stop function only before it takes a chunk, never
// with one taken: so every chunk is copied, and done closed, however many
// helpers come, late, or stop.
type chunkCopy struct {
	dst, src              []byte
	chunks                int64
	next, copied, helpers atomic.Int64
	done                  chan struct{}
}

func newChunkCopy(dst, src []byte) *chunkCopy {
	return &chunkCopy{dst: dst, src: src, chunks: int64((len(src) + parallelCopyChunk - 1) / parallelCopyChunk), done: make(chan struct{})}
}

func never() bool { return false }

// help is a helper's part: a new goroutine's, or a thread parked on a
// doorbell (shm.Assist), whose stop reports its own doorbell rung.
func (pc *chunkCopy) help(stop func() bool) {
	if pc.helpers.Add(1) < parallelCopyMax {
		pc.run(stop)
	}
}

// run copies chunks until none are left or stop reports that the
// goroutine is wanted elsewhere.
func (pc *chunkCopy) run(stop func() bool) {
	for !stop() {
		i := pc.next.Add(1) - 1
		if i >= pc.chunks {
			return
		}
		lo := int(i) * parallelCopyChunk
		hi := min(lo+parallelCopyChunk, len(pc.src))
		copy(pc.dst[lo:hi], pc.src[lo:hi])
		if pc.copied.Add(1) == pc.chunks {
			close(pc.done)
		}
	}
}
