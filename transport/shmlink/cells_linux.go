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

// recvCells holds received inline payloads. Receiving takes a cell on
// nearly every frame and the session gives it back a little later, mostly
// in the order taken, so cells are used round a ring: get takes the cell
// at next when it is back, which it nearly always is, and put marks a cell
// back, both without a lock and small enough to inline (tryGet, put), so
// that a unary call's path enters no function for them. A cell still out
// at next (a frame held for long) is skipped (get); with the whole ring
// out, the growing arena more serves.
//
// Concurrency: get runs on the receiving goroutine only (TryRecv and Recv
// are called one at a time), so only it turns a cell's state from 0 to 1;
// put, from any goroutine, turns it from 1 to 0, once.
type recvCells struct {
	next  uint32
	state [ringCells]atomic.Uint32 // 1: out with a frame
	mem   *[ringCells * cellSize]byte
	more  cellArena
}

const ringCells = 256

// tryGet returns the cell at next, of length and capacity n (0 < n <=
// cellSize: appending to it cannot run into the next cell), or nil if
// that cell is still out; get is then the way.
func (c *recvCells) tryGet(n int) []byte {
	i := c.next % ringCells
	if c.state[i].Load() != 0 {
		return nil
	}
	c.state[i].Store(1)
	c.next++
	return unsafe.Slice(&c.mem[i*cellSize], n)
}

// get is tryGet past a cell still out: the next cell back round the ring,
// or one of the arena when none is.
func (c *recvCells) get(n int) []byte {
	for range ringCells {
		if p := c.tryGet(n); p != nil {
			return p
		}
		c.next++
	}
	return c.more.get(n, n)
}

// index reports which ring cell p is, if it is one.
func (c *recvCells) index(p []byte) (uint32, bool) {
	off := uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(c.mem))
	return uint32(off / cellSize), off < ringCells*cellSize
}

// put gives back ring cell i (see index). It reports false if the cell is
// not out (given back already).
func (c *recvCells) put(i uint32) bool { return c.state[i%ringCells].CompareAndSwap(1, 0) }
