package shm

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"
)

// Pool region layout. DESIGN.md "Slot pool" is normative. The header words
// written once by InitPool are read with encoding/binary; the words both
// processes change at run time (free-list heads, the waiting flag, the slot
// table) are only ever touched through sync/atomic.
const (
	poolOffNClasses = 0   // u32
	poolOffNSlots   = 4   // u32
	poolOffTable    = 8   // u64, relative to the pool start
	poolOffSize     = 16  // u64, must equal the region length
	poolOffWaiting  = 64  // u32; its own cache line, so freers polling it do not contend with anything else
	poolOffClasses  = 128 // class entries start here
	poolClassStride = 64  // one cache line per class: CASes on one head do not bounce another's line

	clsOffHead     = 0  // u64: ABA tag << 32 | (slot index + 1)
	clsOffSize     = 8  // u32
	clsOffCount    = 12 // u32
	clsOffFirst    = 16 // u32
	clsOffReserved = 20 // u32
	clsOffData     = 24 // u64, relative to the pool start

	poolTableStride = 8 // per slot: u32 gen, u32 next
	tabOffGen       = 0
	tabOffNext      = 4

	maxPoolClasses = 16
	// maxPoolSlots keeps "index + 1" and every count comfortably inside u32
	// and bounds the table at 128 MiB.
	maxPoolSlots = 1 << 24
	maxSlotSize  = 1 << 30
	// slotAlign: a slot never shares a cache line with its neighbour, so
	// writers of adjacent slots do not false-share.
	slotAlign     = 64
	poolPageAlign = 4096
)

// Class is one slot size class of a pool: Count slots of Size bytes each.
type Class struct {
	Size  int // bytes per slot: a multiple of 64, at least 64, at most 1 GiB
	Count int // number of slots, at least 1
}

// DefaultClasses returns the classes a segment uses when the Config names
// none: many small slots for the common small message, a few big ones so
// that a 1 MiB payload still travels without copying (3.6 MiB in all;
// larger payloads travel in recycled blob buffers). The size is a
// trade-off: every page is pre-faulted (the larger slots just after the
// link is up, see prefault_linux.go), about 0.6 ms per MiB here, and is
// memory that the link holds for its whole life (DESIGN.md "Segment").
func DefaultClasses() []Class {
	return []Class{
		{Size: 256, Count: 512},
		{Size: 4 << 10, Count: 128},
		{Size: 64 << 10, Count: 16},
		{Size: 1 << 20, Count: 2},
	}
}

// classLayout is the process-local copy of one class entry.
type classLayout struct {
	size  uint32
	count uint32
	first uint32
	data  uint64
}

// poolLayout is the process-local copy of a pool's geometry. Once built
// (by planPool from a caller's classes, or by parsePool from shared
// memory) it is never compared with shared memory again.
type poolLayout struct {
	nclasses int
	nslots   uint32
	table    uint64
	size     uint64
	classes  [maxPoolClasses]classLayout
}

func poolAlignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

func classField(i int, name string) string { return fmt.Sprintf("pool class %d %s", i, name) }

// checkClasses rejects a class list the creator could not lay out. Every
// bound is checked before anything is summed or multiplied, so the sums
// below cannot overflow even on 32-bit int.
func checkClasses(classes []Class) error {
	if len(classes) < 1 || len(classes) > maxPoolClasses {
		return layoutErr("pool classes", "%d classes, want 1..%d", len(classes), maxPoolClasses)
	}
	total := 0
	for i, c := range classes {
		if c.Size < slotAlign || c.Size > maxSlotSize || c.Size%slotAlign != 0 {
			return layoutErr(classField(i, "size"), "%d is not a multiple of %d in [%d, %d]", c.Size, slotAlign, slotAlign, maxSlotSize)
		}
		if c.Count < 1 || c.Count > maxPoolSlots {
			return layoutErr(classField(i, "count"), "%d, want 1..%d", c.Count, maxPoolSlots)
		}
		// Strictly increasing sizes make "the first class that fits" the
		// smallest one that fits, and make a class list canonical.
		if i > 0 && c.Size <= classes[i-1].Size {
			return layoutErr(classField(i, "size"), "%d is not larger than class %d's %d (sizes must strictly increase)", c.Size, i-1, classes[i-1].Size)
		}
		total += c.Count
		if total > maxPoolSlots {
			return layoutErr("pool slots", "more than %d slots in all", maxPoolSlots)
		}
	}
	return nil
}

// planPool places header, table and class data. Each class's data starts
// on a page so that, in a page-aligned segment, no page holds slots of two
// classes (large slots then map and fault independently of small ones).
func planPool(classes []Class) (poolLayout, error) {
	var l poolLayout
	if err := checkClasses(classes); err != nil {
		return l, err
	}
	l.nclasses = len(classes)
	for i, c := range classes {
		l.classes[i] = classLayout{size: uint32(c.Size), count: uint32(c.Count), first: l.nslots}
		l.nslots += uint32(c.Count)
	}
	l.table = poolOffClasses + uint64(l.nclasses)*poolClassStride
	end := l.table + uint64(l.nslots)*poolTableStride
	for i := range l.nclasses {
		c := &l.classes[i]
		c.data = poolAlignUp(end, poolPageAlign)
		end = c.data + uint64(c.count)*uint64(c.size) // < 2^55: counts <= 2^24, sizes <= 2^30
	}
	if end > math.MaxInt {
		return l, layoutErr("pool size", "%d bytes do not fit in this platform's int", end)
	}
	l.size = end
	return l, nil
}

// PoolRegionSize returns the bytes a pool with these classes occupies, or
// a *LayoutError naming the first bad class.
func PoolRegionSize(classes []Class) (int, error) {
	l, err := planPool(classes)
	if err != nil {
		return 0, err
	}
	return int(l.size), nil
}

func checkPoolRegion(region []byte) error {
	if len(region) == 0 || uintptr(unsafe.Pointer(&region[0]))%slotAlign != 0 {
		// Atomics need 8-byte alignment; cache-line alignment is what keeps
		// heads, the waiting flag and slots on lines of their own.
		return layoutErr("pool region", "not 64-byte aligned")
	}
	return nil
}

// InitPool writes a fresh pool into region: every generation 0 (free) and
// every slot on its class's free list in index order. Only the creator
// calls it, before either side attaches. region may be larger than
// PoolRegionSize; the pool then records and claims all of it, and
// AttachPool must be given the same length.
func InitPool(region []byte, classes []Class) error {
	l, err := planPool(classes)
	if err != nil {
		return err
	}
	if err := checkPoolRegion(region); err != nil {
		return err
	}
	if uint64(len(region)) < l.size {
		return layoutErr("pool size", "region of %d bytes is smaller than the %d needed", len(region), l.size)
	}
	le := binary.LittleEndian
	clear(region[:l.table])
	le.PutUint32(region[poolOffNClasses:], uint32(l.nclasses))
	le.PutUint32(region[poolOffNSlots:], l.nslots)
	le.PutUint64(region[poolOffTable:], l.table)
	le.PutUint64(region[poolOffSize:], uint64(len(region)))
	base := unsafe.Pointer(&region[0])
	for i := range l.nclasses {
		c := &l.classes[i]
		e := region[poolOffClasses+i*poolClassStride:]
		le.PutUint32(e[clsOffSize:], c.size)
		le.PutUint32(e[clsOffCount:], c.count)
		le.PutUint32(e[clsOffFirst:], c.first)
		le.PutUint64(e[clsOffData:], c.data)
		// Atomic stores for the run-time words keep them in the byte order
		// the atomics of both processes use.
		(*atomic.Uint64)(unsafe.Add(base, poolOffClasses+i*poolClassStride+clsOffHead)).Store(uint64(c.first) + 1)
		for k := c.first; k < c.first+c.count; k++ {
			next := k + 2 // index+1 of slot k+1
			if k == c.first+c.count-1 {
				next = 0
			}
			entry := unsafe.Add(base, l.table+uint64(k)*poolTableStride)
			(*atomic.Uint32)(unsafe.Add(entry, tabOffGen)).Store(0)
			(*atomic.Uint32)(unsafe.Add(entry, tabOffNext)).Store(next)
		}
	}
	return nil
}

// parsePool reads every static header field exactly once into a local
// layout and validates that copy, so that a peer rewriting the header
// while we look at it cannot make validation and use disagree. Range math
// is in uint64 after bounding each operand, so nothing can overflow.
func parsePool(region []byte) (poolLayout, error) {
	var l poolLayout
	if err := checkPoolRegion(region); err != nil {
		return l, err
	}
	hdrEnd, err := parsePoolHeader(region, &l)
	if err != nil {
		return l, err
	}
	// spans holds header, table and every class's data, to be checked for
	// overlap once each is known to lie inside the region.
	var spans [2 + maxPoolClasses][2]uint64
	spans[0] = [2]uint64{0, hdrEnd}
	spans[1] = [2]uint64{l.table, l.table + uint64(l.nslots)*poolTableStride}
	var first uint32
	for i := range l.nclasses {
		c, err := parseClass(region, i, first, &l)
		if err != nil {
			return l, err
		}
		first += c.count
		spans[2+i] = [2]uint64{c.data, c.data + uint64(c.count)*uint64(c.size)}
		l.classes[i] = c
	}
	if first != l.nslots {
		return l, layoutErr("pool slots", "header says %d but the classes hold %d", l.nslots, first)
	}
	if err := checkDisjoint(spans[:2+l.nclasses]); err != nil {
		return l, err
	}
	return l, nil
}

// parsePoolHeader reads and checks the pool's own fields into l (class
// count, slot count, table, size) and returns where its class entries
// end.
func parsePoolHeader(region []byte, l *poolLayout) (hdrEnd uint64, err error) {
	n := uint64(len(region))
	if n < poolOffClasses {
		return 0, layoutErr("pool size", "region of %d bytes is smaller than the %d-byte header", n, poolOffClasses)
	}
	le := binary.LittleEndian
	nclasses := le.Uint32(region[poolOffNClasses:])
	nslots := le.Uint32(region[poolOffNSlots:])
	table := le.Uint64(region[poolOffTable:])
	size := le.Uint64(region[poolOffSize:])
	if size != n {
		return 0, layoutErr("pool size", "header says %d bytes but the region has %d", size, n)
	}
	if nclasses < 1 || nclasses > maxPoolClasses {
		return 0, layoutErr("pool classes", "%d classes, want 1..%d", nclasses, maxPoolClasses)
	}
	if nslots < 1 || nslots > maxPoolSlots {
		return 0, layoutErr("pool slots", "%d slots, want 1..%d", nslots, maxPoolSlots)
	}
	hdrEnd = poolOffClasses + uint64(nclasses)*poolClassStride
	if hdrEnd > n {
		return 0, layoutErr("pool classes", "%d class entries do not fit in %d bytes", nclasses, n)
	}
	l.nclasses = int(nclasses)
	l.nslots = nslots
	l.table = table
	l.size = size
	if table%8 != 0 || table > n || uint64(nslots)*poolTableStride > n-table {
		return 0, layoutErr("pool table", "offset %d with %d slots is not an 8-aligned range inside %d bytes", table, nslots, n)
	}
	return hdrEnd, nil
}

// parseClass reads and checks class entry i; first is the global index
// its slots must start at, and l holds the header and earlier classes.
func parseClass(region []byte, i int, first uint32, l *poolLayout) (classLayout, error) {
	n := uint64(len(region))
	le := binary.LittleEndian
	e := region[poolOffClasses+i*poolClassStride:]
	c := classLayout{
		size:  le.Uint32(e[clsOffSize:]),
		count: le.Uint32(e[clsOffCount:]),
		first: le.Uint32(e[clsOffFirst:]),
		data:  le.Uint64(e[clsOffData:]),
	}
	if r := le.Uint32(e[clsOffReserved:]); r != 0 {
		return c, layoutErr(classField(i, "reserved"), "%#x, want 0", r)
	}
	if c.size < slotAlign || c.size > maxSlotSize || c.size%slotAlign != 0 {
		return c, layoutErr(classField(i, "size"), "%d is not a multiple of %d in [%d, %d]", c.size, slotAlign, slotAlign, maxSlotSize)
	}
	if i > 0 && c.size <= l.classes[i-1].size {
		return c, layoutErr(classField(i, "size"), "%d is not larger than class %d's %d", c.size, i-1, l.classes[i-1].size)
	}
	if c.count < 1 || c.count > l.nslots-first {
		return c, layoutErr(classField(i, "count"), "%d, want 1..%d (slots left of %d)", c.count, l.nslots-first, l.nslots)
	}
	if c.first != first {
		return c, layoutErr(classField(i, "first"), "%d, want %d (classes are contiguous)", c.first, first)
	}
	span := uint64(c.count) * uint64(c.size) // < 2^54
	if c.data%slotAlign != 0 || c.data > n || span > n-c.data {
		return c, layoutErr(classField(i, "data"), "offset %d with %d bytes is not a 64-aligned range inside %d bytes", c.data, span, n)
	}
	return c, nil
}

// checkDisjoint reports the first two of the pool's spans (header, table,
// then each class's data) that overlap.
func checkDisjoint(live [][2]uint64) error {
	names := func(i int) string {
		switch i {
		case 0:
			return "pool header"
		case 1:
			return "pool table"
		}
		return classField(i-2, "data")
	}
	for i, a := range live {
		for j, b := range live[:i] {
			if a[0] < b[1] && b[0] < a[1] {
				return layoutErr(names(i), "[%d, %d) overlaps %s [%d, %d)", a[0], a[1], names(j), b[0], b[1])
			}
		}
	}
	return nil
}
