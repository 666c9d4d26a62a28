package shm

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// maxCASAttempts bounds every compare-and-swap retry loop. An honest
// contender makes a CAS fail only when it itself succeeded, so a million
// consecutive failures mean a peer is rewriting the word to starve us; we
// give up with ErrCorrupt rather than spin for ever.
const maxCASAttempts = 1 << 20

// Pre-declared so that the hot path never allocates, and wrapping
// ErrCorrupt so that callers need test only for ErrProtocol.
var (
	errHeadRange   = fmt.Errorf("%w: free-list head outside its class", ErrCorrupt)
	errNextRange   = fmt.Errorf("%w: free-list link outside its class", ErrCorrupt)
	errPoppedBusy  = fmt.Errorf("%w: free list held an allocated slot", ErrCorrupt)
	errCASStarved  = fmt.Errorf("%w: free-list head rewritten on every attempt", ErrCorrupt)
	errNegativeLen = errors.New("shm: negative slot size requested")
)

// Slot is an allocated slot of the owner's pool. Buf covers the whole slot
// (len == cap == the class size); the owner writes its payload anywhere in
// it and sends (Index, Gen, offset, length) to the peer.
type Slot struct {
	Index, Gen uint32
	Buf        []byte
}

// poolClass is a class's process-local geometry plus its shared head.
type poolClass struct {
	head  *atomic.Uint64
	size  uint32
	count uint32
	first uint32
	data  int // offset of the class's slot 0 in the region
}

// holds uses unsigned wrap-around so that one compare rejects indices both
// below and above the class.
func (c *poolClass) holds(i uint32) bool { return i-c.first < c.count }

// Pool is one process's handle on a slot pool. Its geometry is a private
// copy validated by AttachPool; only the free-list heads, the waiting flag
// and the slot table are read from shared memory afterwards, and every
// value read there is range-checked before it is used. A Pool is safe for
// concurrent use, and any number of handles (in any processes) may share
// one region.
type Pool struct {
	region   []byte
	table    unsafe.Pointer
	waiting  *atomic.Uint32
	nslots   uint32
	nclasses int
	classes  [maxPoolClasses]poolClass
}

// AttachPool validates the pool in region (written by InitPool, possibly
// by another process) and returns a handle on it. Any inconsistency is a
// *LayoutError, which wraps ErrProtocol.
func AttachPool(region []byte) (*Pool, error) {
	l, err := parsePool(region)
	if err != nil {
		return nil, err
	}
	base := unsafe.Pointer(&region[0])
	p := &Pool{
		region:   region,
		table:    unsafe.Add(base, l.table),
		waiting:  (*atomic.Uint32)(unsafe.Add(base, poolOffWaiting)),
		nslots:   l.nslots,
		nclasses: l.nclasses,
	}
	for i := range l.nclasses {
		c := &l.classes[i]
		p.classes[i] = poolClass{
			head:  (*atomic.Uint64)(unsafe.Add(base, poolOffClasses+i*poolClassStride+clsOffHead)),
			size:  c.size,
			count: c.count,
			first: c.first,
			data:  int(c.data),
		}
	}
	return p, nil
}

// gen and next index the slot table; i must already be < nslots, which
// AttachPool proved keeps the entry inside the region.
func (p *Pool) gen(i uint32) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Add(p.table, uintptr(i)*poolTableStride+tabOffGen))
}

func (p *Pool) next(i uint32) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Add(p.table, uintptr(i)*poolTableStride+tabOffNext))
}

// classOf finds the class of a slot index below nslots. Classes are
// contiguous from 0, so the last class starting at or below i holds it.
func (p *Pool) classOf(i uint32) *poolClass {
	c := p.nclasses - 1
	for c > 0 && i < p.classes[c].first {
		c--
	}
	return &p.classes[c]
}

// slotBuf is the whole slot i of class c; the bounds were proved at attach.
func (p *Pool) slotBuf(c *poolClass, i uint32) []byte {
	base := c.data + int(i-c.first)*int(c.size)
	end := base + int(c.size)
	return p.region[base:end:end]
}

// pop takes the top of c's free list. The head's tag changes on every
// successful CAS, so a head that was popped and pushed back between our
// load and our CAS (ABA) makes the CAS fail instead of installing a stale
// next link. ok is false when the list is empty.
func (p *Pool) pop(c *poolClass) (i uint32, ok bool, err error) {
	for range maxCASAttempts {
		h := c.head.Load()
		top := uint32(h)
		if top == 0 {
			return 0, false, nil
		}
		if !c.holds(top - 1) {
			return 0, false, errHeadRange
		}
		// next may be stale if another popper won the race; the CAS below
		// then fails. Validating it first still matters: a value we install
		// is one the next pop trusts only after checking it again.
		next := p.next(top - 1).Load()
		if next != 0 && !c.holds(next-1) {
			return 0, false, errNextRange
		}
		if c.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(next)) {
			return top - 1, true, nil
		}
	}
	return 0, false, errCASStarved
}

// push returns slot i to c's free list.
func (p *Pool) push(c *poolClass, i uint32) error {
	for range maxCASAttempts {
		h := c.head.Load()
		top := uint32(h)
		if top != 0 && !c.holds(top-1) {
			return errHeadRange
		}
		p.next(i).Store(top)
		if c.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(i+1)) {
			return nil
		}
	}
	return errCASStarved
}

// Alloc takes a free slot of at least n bytes (n == 0 is allowed): from the
// smallest class that fits, else from the next larger class that has a
// free slot. It returns ErrTooLarge if no class is large enough and
// ErrNoSlot if every fitting class is empty right now; it never waits.
func (p *Pool) Alloc(n int) (Slot, error) {
	if n < 0 {
		return Slot{}, errNegativeLen
	}
	for ci := range p.nclasses {
		c := &p.classes[ci]
		if uint64(c.size) < uint64(n) {
			continue
		}
		i, ok, err := p.pop(c)
		if err != nil {
			return Slot{}, err
		}
		if !ok {
			continue
		}
		// An honest process never changes the generation of a slot that is
		// on a free list (Free only moves odd to even), so an odd value or a
		// lost CAS here can only be the peer's doing.
		g := p.gen(i)
		old := g.Load()
		if old&1 != 0 || !g.CompareAndSwap(old, old+1) {
			return Slot{}, errPoppedBusy
		}
		return Slot{Index: i, Gen: old + 1, Buf: p.slotBuf(c, i)}, nil
	}
	if uint64(n) > uint64(p.classes[p.nclasses-1].size) {
		return Slot{}, ErrTooLarge
	}
	return Slot{}, ErrNoSlot
}

// Free returns slot (index, gen) to its class's free list. Either process
// may call it. The generation CAS (odd gen -> gen+1) is what makes a
// double or stale free fail with ErrStale, even when two callers race
// with the same reference. wakeOwner reports that the owner had announced
// it was waiting for a slot and that this call withdrew the announcement:
// the caller must ring the owner's doorbell.
func (p *Pool) Free(index, gen uint32) (wakeOwner bool, err error) {
	if index >= p.nslots {
		return false, ErrBadRef
	}
	if gen&1 == 0 || !p.gen(index).CompareAndSwap(gen, gen+1) {
		return false, ErrStale
	}
	if err := p.push(p.classOf(index), index); err != nil {
		return false, err
	}
	// The push's sequentially consistent CAS precedes this load; with the
	// owner's store-flag-then-retry-Alloc that is Dekker's handshake, so an
	// owner can never sleep while a slot it would have taken is free.
	// Loading first keeps the common case (nobody waiting) free of a locked
	// instruction.
	return p.waiting.Load() != 0 && p.waiting.CompareAndSwap(1, 0), nil
}

// Resolve validates a reference the peer sent (slot index, generation,
// offset and length of the payload inside the slot) and returns a view of
// exactly those bytes, with cap == len so that appending cannot run into
// the rest of the slot. The view stays valid until the slot is freed.
func (p *Pool) Resolve(index, gen, off, length uint32) ([]byte, error) {
	if index >= p.nslots {
		return nil, ErrBadRef
	}
	if gen&1 == 0 || p.gen(index).Load() != gen {
		return nil, ErrStale
	}
	c := p.classOf(index)
	if uint64(off)+uint64(length) > uint64(c.size) {
		return nil, ErrBadRef
	}
	base := c.data + int(index-c.first)*int(c.size) + int(off)
	end := base + int(length)
	return p.region[base:end:end], nil
}

// Contains reports whether b starts within the pool's slots: SlotAt's
// first test, small enough to inline, so that memory that is not the
// pool's (a payload in a descriptor, a heap buffer) costs its callers no
// call. It reads only b's and the region's addresses.
func (p *Pool) Contains(b []byte) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(p.region)))
	return cap(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))-base < uintptr(len(p.region))
}

// SlotAt locates the slot that holds the first byte of b (for a zero-length
// b with spare capacity, the byte b would start at). It returns the slot's
// global index, b's offset inside the slot, and how many bytes of the slot
// remain from that offset. ok is false if b does not start inside the data
// of one of this pool's slots (header, table, padding, or other memory).
//
// It is the way back from a view (Slot.Buf, or what Resolve returned) to
// the slot, for a user that keeps views rather than references: a buffer
// that Alloc returned can then be sent by reference, and a received
// payload freed on release. It only compares addresses with the pool's
// private geometry and reads nothing from shared memory, so it costs a few
// comparisons.
func (p *Pool) SlotAt(b []byte) (index uint32, off, room int, ok bool) {
	if !p.Contains(b) {
		return 0, 0, 0, false
	}
	if cap(b) == 0 || len(p.region) == 0 {
		return 0, 0, 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(p.region)))
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if addr < base || addr-base >= uintptr(len(p.region)) {
		return 0, 0, 0, false
	}
	rel := int(addr - base)
	for ci := range p.nclasses {
		c := &p.classes[ci]
		size := int(c.size)
		if rel < c.data || rel-c.data >= int(c.count)*size {
			continue
		}
		k := (rel - c.data) / size
		off = (rel - c.data) % size
		return c.first + uint32(k), off, size - off, true
	}
	return 0, 0, 0, false
}

// Arm announces that the owner is about to block until a slot is
// freed. The caller must retry Alloc afterwards and call Disarm if it
// does not block.
func (p *Pool) Arm() { p.waiting.Store(1) }

// Disarm withdraws Arm. A false result means a freer already
// cleared the flag and rang (or is ringing) the owner's doorbell, so one
// spurious wake-up may follow.
func (p *Pool) Disarm() bool { return p.waiting.CompareAndSwap(1, 0) }

// MaxSize returns the largest slot size: the largest n Alloc accepts.
func (p *Pool) MaxSize() int { return int(p.classes[p.nclasses-1].size) }

// NumSlots returns the number of slots in all classes.
func (p *Pool) NumSlots() int { return int(p.nslots) }

// Classes returns a copy of the pool's classes, smallest first.
func (p *Pool) Classes() []Class {
	out := make([]Class, p.nclasses)
	for i := range out {
		out[i] = Class{Size: int(p.classes[i].size), Count: int(p.classes[i].count)}
	}
	return out
}

// FreeSlots counts the slots whose generation is even (free). It scans the
// whole table and is meant for tests and inspection; while other goroutines
// allocate and free it is only a snapshot.
func (p *Pool) FreeSlots() int {
	n := 0
	for i := range p.nslots {
		if p.gen(i).Load()&1 == 0 {
			n++
		}
	}
	return n
}

// CheckFreeLists walks every free list and verifies that each listed slot
// is in its class, free, and listed once, and that every free slot is
// listed. It is for tests and inspection of a quiescent pool: a Free in
// progress has made its slot free before listing it.
func (p *Pool) CheckFreeLists() error {
	seen := make([]bool, p.nslots)
	listed := 0
	for ci := range p.nclasses {
		c := &p.classes[ci]
		top := uint32(c.head.Load())
		// A list can hold at most the class's slots; the seen check would
		// catch a cycle too, the step bound makes termination obvious.
		for steps := uint32(0); top != 0; steps++ {
			i := top - 1
			switch {
			case steps >= c.count:
				return fmt.Errorf("%w: class %d free list is longer than its %d slots", ErrCorrupt, ci, c.count)
			case !c.holds(i):
				return fmt.Errorf("%w: class %d free list links slot %d outside the class", ErrCorrupt, ci, i)
			case seen[i]:
				return fmt.Errorf("%w: class %d free list holds slot %d twice", ErrCorrupt, ci, i)
			}
			if g := p.gen(i).Load(); g&1 != 0 {
				return fmt.Errorf("%w: class %d free list holds allocated slot %d (gen %d)", ErrCorrupt, ci, i, g)
			}
			seen[i] = true
			listed++
			top = p.next(i).Load()
		}
	}
	if free := p.FreeSlots(); free != listed {
		return fmt.Errorf("%w: %d slots are free but %d are on free lists", ErrCorrupt, free, listed)
	}
	return nil
}
