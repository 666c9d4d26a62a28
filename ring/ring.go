package ring

import (
	"errors"
	"fmt"
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
	}, nil
}

func (s *shared) at(i uint64) *Cell {
	return (*Cell)(unsafe.Add(s.descs, (i&s.mask)*CellSize))
}

// wake clears flag if it is set and reports whether this call cleared it:
// the caller that clears the flag owns the duty of ringing the doorbell.
// The plain load first keeps the common case (peer awake) free of a locked
// instruction.
func wake(flag *atomic.Uint32) bool {
	return flag.Load() != 0 && flag.CompareAndSwap(1, 0)
}
