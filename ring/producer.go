package ring

// Producer is the sending end of a ring. It keeps its own tail privately
// (the copy in shared memory is only ever stored, never trusted) and caches
// the consumer's head so that it reads the shared head only when the ring
// looks full.
type Producer struct {
	s          shared
	tail       uint64 // next position to write; published on Push
	cachedHead uint64 // last head read from the consumer
}

// NewProducer attaches the producing side to a ring initialised by Init.
// The producer resumes from the tail found in the region, so a freshly
// initialised ring starts at 0.
func NewProducer(region []byte, capacity int) (*Producer, error) {
	s, err := attach(region, capacity)
	if err != nil {
		return nil, err
	}
	t := s.tail.Load()
	// The ring may hold cells the consumer has not taken yet: start
	// with a cache that says "full" so that the first push reads the head.
	return &Producer{s: s, tail: t, cachedHead: t - s.cap}, nil
}

// Capacity returns the number of cells the ring holds.
func (p *Producer) Capacity() int { return int(p.s.cap) }

// free returns how many cells can be written without overwriting
// unconsumed ones. It trusts the cached head only while that shows room for
// want; otherwise it reads the head, so that a short count means the ring
// really is that full.
func (p *Producer) free(want uint64) (uint64, error) {
	used := p.tail - p.cachedHead
	if used < p.s.cap && p.s.cap-used >= want {
		return p.s.cap - used, nil
	}
	h := p.s.head.Load()
	used = p.tail - h
	if used > p.s.cap { // head ahead of tail, or too far behind
		return 0, ErrCorrupt
	}
	p.cachedHead = h
	return p.s.cap - used, nil
}

// Push copies as many cells from src as fit and publishes them with a
// single store of the tail (batch publish). It returns how many were
// written and whether the consumer was parked, in which case the caller
// must ring the consumer's doorbell. n < len(src) means the ring is full.
func (p *Producer) Push(src []Cell) (n int, wakeConsumer bool, err error) {
	if len(src) == 0 {
		return 0, false, nil
	}
	room, err := p.free(uint64(len(src)))
	if err != nil {
		return 0, false, err
	}
	n = len(src)
	if uint64(n) > room {
		n = int(room)
	}
	if n == 0 {
		return 0, false, nil
	}
	for i := range n {
		*p.s.at(p.tail + uint64(i)) = src[i]
	}
	p.tail += uint64(n)
	// The atomic store orders the cell writes before the index, and
	// (sequentially consistent) before the parked-flag load below: with the
	// consumer's store-flag-then-load-tail this is Dekker's handshake, so a
	// consumer can never park on a ring that holds a cell it missed.
	p.s.tail.Store(p.tail)
	return n, wake(p.s.parked), nil
}

// PushOne is Push for a single cell; ok is false when the ring is full.
func (p *Producer) PushOne(d *Cell) (ok, wakeConsumer bool, err error) {
	room, err := p.free(1)
	if err != nil || room == 0 {
		return false, false, err
	}
	*p.s.at(p.tail) = *d
	p.tail++
	p.s.tail.Store(p.tail)
	return true, wake(p.s.parked), nil
}

// HasSpace reports whether at least one cell can be pushed. It is the
// condition a producer re-checks after Arm and before blocking.
func (p *Producer) HasSpace() (bool, error) {
	room, err := p.free(1)
	return room > 0, err
}

// Arm announces that the producer is about to block for space. The
// caller must re-check HasSpace afterwards and call Disarm if it does
// not block.
func (p *Producer) Arm() { p.s.waiting.Store(1) }

// Disarm withdraws Arm. A false result means the consumer
// already cleared the flag and rang (or is ringing) the space doorbell, so
// one spurious wake-up may follow.
func (p *Producer) Disarm() bool { return p.s.waiting.CompareAndSwap(1, 0) }

// Pending returns how many published cells the consumer has not yet
// taken, as far as the producer can tell.
func (p *Producer) Pending() (int, error) {
	h := p.s.head.Load()
	used := p.tail - h
	if used > p.s.cap {
		return 0, ErrCorrupt
	}
	p.cachedHead = h
	return int(used), nil
}
