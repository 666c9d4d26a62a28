package shmlink

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// An inline payload arrives inside its descriptor, and the descriptor
// inside Recv's batch, which the next batch overwrites; the frame may be
// held much longer (the session queues frames for the application). So
// Recv copies inline payloads into cells of transport memory. Release finds
// a cell by its address, which is exact: a slice that is not one of our
// cells is never taken into the free list.
//
// Alloc serves payloads that will travel inline from a second arena of the
// same kind, rather than from a slot: such a buffer is copied into the
// descriptor anyway, and a slot held meanwhile (the session holds its
// buffers while it waits for flow-control credit) would be missing from the
// pool that larger payloads need. The arenas are separate so that Send can
// tell a buffer from Alloc from a received payload passed back to it.
const (
	cellSize  = 32 // wire.InlineMax rounded up
	slabCells = 256
)

type cellArena struct {
	// out counts the cells out (written under mu): while it is zero, no
	// slice is a cell that is out, which isOut tells without the lock.
	// The session encodes inline-sized payloads in buffers of its own, so
	// Send asks about a payload that is not a cell on nearly every call.
	out   atomic.Int64
	mu    sync.Mutex
	slabs [][]byte // slabCells*cellSize bytes each; never freed while the arena lives
	free  []uint32 // free cell numbers; its capacity is the number of cells, so put never allocates
	live  []bool   // live[i]: cell i is out with a frame (a second put is ignored)
}

// get returns a cell of length n and capacity c (n <= c <= cellSize): a
// received payload gets c == n, so that appending to it cannot run into
// the next cell; a buffer from Alloc gets room up to wire.InlineMax.
func (a *cellArena) get(n, c int) []byte {
	a.mu.Lock()
	if len(a.free) == 0 {
		a.grow()
	}
	i := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	a.live[i] = true
	a.out.Add(1)
	s := a.slabs[i/slabCells]
	a.mu.Unlock()
	off := int(i%slabCells) * cellSize
	return s[off : off+n : off+c]
}

// grow adds a slab. It happens only while more inline frames are held at
// once than ever before, so steady state allocates nothing.
func (a *cellArena) grow() {
	first := uint32(len(a.slabs) * slabCells)
	a.slabs = append(a.slabs, make([]byte, slabCells*cellSize))
	free := make([]uint32, len(a.free), int(first)+slabCells)
	copy(free, a.free)
	for i := range uint32(slabCells) {
		free = append(free, first+slabCells-1-i) // lowest first out
	}
	a.free = free
	a.live = append(a.live, make([]bool, slabCells)...)
}

// put takes back a cell. It reports false if p is not a cell that is out
// with a frame (not a cell at all, or one already put back).
func (a *cellArena) put(p []byte) bool {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	a.mu.Lock()
	defer a.mu.Unlock()
	for si, s := range a.slabs {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if addr < base || addr-base >= uintptr(len(s)) {
			continue
		}
		i := uint32(si*slabCells) + uint32(addr-base)/cellSize
		if !a.live[i] {
			return false
		}
		a.live[i] = false
		a.out.Add(-1)
		a.free = append(a.free, i)
		return true
	}
	return false
}

// isOut reports whether p is a cell that is out (it is not taken back).
func (a *cellArena) isOut(p []byte) bool {
	return a.out.Load() != 0 && a.lookOut(p)
}

// lookOut is isOut's search, under the lock.
func (a *cellArena) lookOut(p []byte) bool {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	a.mu.Lock()
	defer a.mu.Unlock()
	for si, s := range a.slabs {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if addr >= base && addr-base < uintptr(len(s)) {
			return a.live[uint32(si*slabCells)+uint32(addr-base)/cellSize]
		}
	}
	return false
}
