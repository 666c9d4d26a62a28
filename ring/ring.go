package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Header layout: each word sits on its own 64-byte cache line so that the
// producer's stores never invalidate the line the consumer polls, and vice
// versa.
const (
	HeaderSize    = 256
	offTail       = 0   // u64, written by the producer only
	offHead       = 64  // u64, written by the consumer only
	offParked     = 128 // u32, consumer parked flag (set by consumer, cleared by either)
	offWaiting    = 192 // u32, producer waiting-for-space flag (set by producer, cleared by either)
	cacheLineSize = 64
	stampOff      = 8 // a cell's stamp word (see shared.put)
)

// MaxCapacity bounds the cell count so that capacity*CellSize fits in
// the 32-bit fields that describe ring sizes in a segment header.
const MaxCapacity = 1 << 24

// ErrCorrupt is returned when an index read from the peer is impossible
// (the peer claims more entries than the ring holds, or moved an index
// backwards). The link that owns the ring must be treated as broken.
var ErrCorrupt = errors.New("ring: peer index out of range (protocol violation)")

// RegionSize returns the bytes a ring of capacity cells occupies.
func RegionSize(capacity int) int { return HeaderSize + capacity*CellSize }

func checkRegion(region []byte, capacity int) error {
	if capacity <= 0 || capacity > MaxCapacity || capacity&(capacity-1) != 0 {
		return fmt.Errorf("ring: capacity %d is not a power of two in [1, %d]", capacity, MaxCapacity)
	}
	if len(region) < RegionSize(capacity) {
		return fmt.Errorf("ring: region of %d bytes is smaller than %d needed for capacity %d",
			len(region), RegionSize(capacity), capacity)
	}
	if uintptr(unsafe.Pointer(&region[0]))%cacheLineSize != 0 {
		// 8-byte alignment is what atomics need; cache-line alignment is
		// what keeps the header words from sharing lines.
		return errors.New("ring: region is not 64-byte aligned")
	}
	return nil
}

// Init zeroes the header of a ring in region. Only the creator calls it,
// before either side attaches.
func Init(region []byte, capacity int) error {
	if err := checkRegion(region, capacity); err != nil {
		return err
	}
	clear(region[:HeaderSize])
	return nil
}

type shared struct {
	tail    *atomic.Uint64
	head    *atomic.Uint64
	parked  *atomic.Uint32
	waiting *atomic.Uint32
	descs   unsafe.Pointer
	mask    uint64
	cap     uint64
	shift   uint // log2(cap)
}

func attach(region []byte, capacity int) (shared, error) {
	if err := checkRegion(region, capacity); err != nil {
		return shared{}, err
	}
	base := unsafe.Pointer(&region[0])
	return shared{
		tail:    (*atomic.Uint64)(unsafe.Add(base, offTail)),
		head:    (*atomic.Uint64)(unsafe.Add(base, offHead)),
		parked:  (*atomic.Uint32)(unsafe.Add(base, offParked)),
		waiting: (*atomic.Uint32)(unsafe.Add(base, offWaiting)),
		descs:   unsafe.Add(base, HeaderSize),
		mask:    uint64(capacity - 1),
		cap:     uint64(capacity),
		shift:   uint(bits.TrailingZeros64(uint64(capacity))),
	}, nil
}

func (s *shared) at(i uint64) *Cell {
	return (*Cell)(unsafe.Add(s.descs, (i&s.mask)*CellSize))
}

// Cells are published by stamping them (SPEC.md "Ring"). A cell's bytes
// 8..11 are its stamp word, read and written only atomically: the low
// half is the cell's bytes 8 and 9 (a descriptor's kind and flags), the
// high half the ring's stamp, where a descriptor has its reserved field,
// always zero. The producer writes the rest of the cell, then stores the
// stamp word; the consumer loads it and takes the cell only if the stamp
// is the one its position should have.

// stamp is the high half of the stamp word of a cell once position i is
// published in it: twice i's lap, plus one, modulo 2^16. It is odd, so a
// zeroed cell never looks published (whatever index a ring resumes at),
// and it differs from the stamp of position i-capacity, which the cell
// held before.
func (s *shared) stamp(i uint64) uint32 { return uint32(uint16(i>>s.shift<<1|1)) << 16 }

// word is cell c's stamp word.
func word(c *Cell) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&c[stampOff])) }

// put writes src into position i and publishes it: the rest of the cell
// first, then the stamp word with one atomic store. src's bytes 10 and 11
// are not copied: they are where the stamp goes.
func (s *shared) put(i uint64, src *Cell) {
	c := s.at(i)
	copyBody(c, src)
	word(c).Store(uint32(src[stampOff]) | uint32(src[stampOff+1])<<8 | s.stamp(i))
}

// get copies position i into dst if it is published, with zero where the
// stamp was. The cell's bytes are read after the stamp's load: an honest
// producer wrote them before it stamped, and does not write them again
// before the consumer's head has passed i. A hostile one may; the
// consumer's caller validates its private copy, as for any cell.
func (s *shared) get(i uint64, dst *Cell) bool {
	c := s.at(i)
	w := word(c).Load()
	if w&^0xffff != s.stamp(i) {
		return false
	}
	copyBody(dst, c)
	dst[stampOff], dst[stampOff+1], dst[stampOff+2], dst[stampOff+3] = byte(w), byte(w>>8), 0, 0
	return true
}

// copyBody copies every byte of a cell but its stamp word, which is only
// ever accessed atomically (see word).
func copyBody(dst, src *Cell) {
	*(*[stampOff]byte)(dst[:stampOff]) = *(*[stampOff]byte)(src[:stampOff])
	*(*[CellSize - stampOff - 4]byte)(dst[stampOff+4:]) = *(*[CellSize - stampOff - 4]byte)(src[stampOff+4:])
}

// published reports whether position i is published; any goroutine may
// ask (it reads only the stamp word).
func (s *shared) published(i uint64) bool { return word(s.at(i)).Load()&^0xffff == s.stamp(i) }

// wake clears flag if it is set and reports whether this call cleared it:
// the caller that clears the flag owns the duty of ringing the doorbell.
// The plain load first keeps the common case (peer awake) free of a locked
// instruction.
func wake(flag *atomic.Uint32) bool {
	return flag.Load() != 0 && flag.CompareAndSwap(1, 0)
}
