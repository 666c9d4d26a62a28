package shm

import (
	"sort"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Pre-faulting. A page of the segment first touched on the call path costs
// microseconds (the first side to touch it also allocates and zeroes it),
// so both sides build their page tables ahead. Doing all of it before the
// link was up cost most of a plugin's start (about 0.6 ms per MiB here: 4
// of 7 ms from start to the first call with the default segment), nearly
// all of it for slots that few calls use. So a mapping is pre-faulted in
// two parts: synchronously the header, the rings, the pools' bookkeeping
// and the slots of the classes below lazySlotSize bytes (the 256-byte
// slots, which most calls that do not travel inline take); the slots of
// the larger classes on a goroutine of the segment's, fillDelay after the
// link is up, done a few milliseconds later. A call that takes such a
// slot before then faults on it, as any first touch would have without
// pre-faulting; nothing waits for the goroutine but Close.
const (
	lazySlotSize = 4 << 10
	fillChunk    = 256 << 10 // Close waits for at most one chunk of filling
)

// span is a byte range of the mapping.
type span struct{ lo, hi int }

// lazySpans are the page-aligned ranges of the mapping that hold only
// slots of the large classes, in order.
func (m *mapping) lazySpans() []span {
	var out []span
	for d := range 2 {
		p, base := m.pools[d], m.layout.PoolOffset[d]
		for i := range p.nclasses {
			c := &p.classes[i]
			if c.size < lazySlotSize {
				continue
			}
			// Inward to whole pages: the pages at the edges may hold
			// other bookkeeping, which must be there synchronously.
			lo := alignUp(base+c.data, pageSize)
			hi := (base + c.data + int(c.count)*int(c.size)) &^ (pageSize - 1)
			if hi > lo {
				out = append(out, span{lo, hi})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
}

// prefault builds this side's page tables but for the large slots, which
// startFill leaves to the filling goroutine.
func (s *Segment) prefault() {
	mem := s.m.mem
	at := 0
	for _, sp := range s.m.lazySpans() {
		populate(mem[at:sp.lo])
		at = sp.hi
	}
	populate(mem[at:])
}

// startFill arranges for the large slots to be pre-faulted fillDelay
// from now, once (see Close). Endpoint calls it: the side is about to use
// the link, and its start (spawning the plugin, the handshake) is over.
func (s *Segment) startFill() {
	lazy := s.m.lazySpans()
	if s.filled != nil || len(lazy) == 0 {
		return
	}
	mem := s.m.mem
	s.filled = make(chan struct{})
	s.fillTimer = time.AfterFunc(fillDelay, func() { s.fill(mem, lazy) })
}

// fillDelay keeps the filling away from a new link's first calls. Run at
// once, even at the lowest priority, it made the first call 0.5 ms slower
// (1.0 ms after Start returned instead of 0.55, measured with
// host.BenchmarkStartToFirstCall's loop): faulting pages in takes locks of
// the process's memory map and of the page allocator that no priority
// orders.
const fillDelay = 10 * time.Millisecond

// fill pre-faults the lazy spans a chunk at a time, stopping early once
// Close has begun. It runs at normal priority: the lowest (nice 19, or
// SCHED_IDLE) made no difference measured, since the cost to the first
// calls is in locks, not processor time, and a thread cannot take its
// priority back without privilege; the thread would have to end with the
// goroutine, and a runtime thread that ends delivers the parent-death
// signal to every child process it forked (the hostile-host suite's
// victims died of it).
func (s *Segment) fill(mem []byte, lazy []span) {
	defer close(s.filled)
	for _, sp := range lazy {
		for lo := sp.lo; lo < sp.hi; lo += fillChunk {
			if s.stopFill.Load() {
				return
			}
			populate(mem[lo:min(lo+fillChunk, sp.hi)])
		}
	}
}

// noPopulateWrite is set the first time the kernel refuses
// MADV_POPULATE_WRITE (before 5.14), which faults a range in writable
// without writing to it.
var noPopulateWrite atomic.Bool

// populate faults b in for the segment: a page that cannot be had now is
// left to fault in on first touch.
func populate(b []byte) { _ = Prefault(b) }

// Prefault faults b (a shared mapping, starting on a page) in, writable,
// so that no page of it is first touched later: with MADV_POPULATE_WRITE,
// or, where the kernel lacks it, an atomic add of zero to every page, a
// write that changes nothing (the peer may be writing the same words). It
// returns the kernel's error for a page it could not provide, which a
// store would have turned into SIGBUS. Blob buffers use it too.
func Prefault(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if !noPopulateWrite.Load() {
		switch err := unix.Madvise(b, unix.MADV_POPULATE_WRITE); err {
		case nil:
			return nil
		case unix.EINVAL:
			noPopulateWrite.Store(true)
		default:
			return err
		}
	}
	for i := 0; i < len(b); i += pageSize {
		(*atomic.Uint32)(unsafe.Pointer(&b[i])).Add(0)
	}
	return nil
}
