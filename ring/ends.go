package ring

import (
	"sync"
	"sync/atomic"
)

// The ring's two ends. Each keeps its own index privately. The producer
// publishes each cell by stamping it (see shared.put), and the consumer
// polls the stamp of the cell at its head: one cache line crosses
// between the processors per cell, where a published tail index was a
// second one, read before the cell and so paid in series. The consumer
// publishes its head with one store per batch, which the producer reads
// only when its cached copy shows too little room. The parked and waiting
// flags, set by the side about to sleep and cleared by the side that then
// rings, make the doorbells exact (see wake).

// Doorbell wakes the other side of a ring: shm's eventfd bells. A ring
// given one (SetDoorbell) rings it itself when it finds the other side
// parked; without one it reports that, and its caller rings.
type Doorbell interface {
	Wake() error
}

// Producer is the sending end of a ring. It keeps its own tail privately
// (the copy in shared memory is only ever stored, never trusted) and caches
// the consumer's head so that it reads the shared head only when the ring
// looks full. Its methods serialise on a mutex, so that the goroutines of
// one process may share it: the ring has one producer, the process.
type Producer struct {
	mu         sync.Mutex
	s          shared
	tail       uint64   // next position to write; published on Push
	cachedHead uint64   // last head read from the consumer
	bell       Doorbell // the consumer's, or nil (see SetDoorbell)
}

// NewProducer attaches the producing side to a ring initialised by Init.
// The producer resumes from the tail found in the region, so a freshly
// initialised ring starts at 0. (A producer that stopped between stamping
// cells and storing the tail leaves cells the consumer may already have
// taken: resuming is for a ring whose producer stopped between pushes.)
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

// SetDoorbell gives the producer the consumer's doorbell, which Push then
// rings itself when it finds the consumer parked. Call it before the
// first Push.
func (p *Producer) SetDoorbell(b Doorbell) { p.bell = b }

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
// written and whether the consumer was parked, in which case it rings the
// consumer's doorbell if it has one (SetDoorbell; err is then the
// doorbell's, with the cells published) and the caller must ring it
// otherwise. n < len(src) means the ring is full.
func (p *Producer) Push(src []Cell) (n int, wakeConsumer bool, err error) {
	if len(src) == 0 {
		return 0, false, nil
	}
	p.mu.Lock()
	room, err := p.free(uint64(len(src)))
	if err != nil {
		p.mu.Unlock()
		return 0, false, err
	}
	n = len(src)
	if uint64(n) > room {
		n = int(room)
	}
	if n == 0 {
		p.mu.Unlock()
		return 0, false, nil
	}
	for i := range n {
		p.s.put(p.tail+uint64(i), &src[i])
	}
	p.tail += uint64(n)
	// Each cell was published by the atomic store of its stamp (put),
	// sequentially consistent and so ordered before the parked-flag load
	// below: with the consumer's store-flag-then-load-stamp this is
	// Dekker's handshake, so a consumer can never park on a ring that
	// holds a cell it missed. The tail is stored for the figures (Fill).
	p.s.tail.Store(p.tail)
	p.mu.Unlock()
	// Rung outside the lock: a doorbell write is a system call, and other
	// pushers need not wait for it.
	woke := wake(p.s.parked)
	if woke && p.bell != nil {
		err = p.bell.Wake()
	}
	return n, woke, err
}

// PushOne is Push for a single cell; ok is false when the ring is full.
func (p *Producer) PushOne(d *Cell) (ok, wakeConsumer bool, err error) {
	p.mu.Lock()
	room, err := p.free(1)
	if err != nil || room == 0 {
		p.mu.Unlock()
		return false, false, err
	}
	p.s.put(p.tail, d)
	p.tail++
	p.s.tail.Store(p.tail)
	p.mu.Unlock()
	woke := wake(p.s.parked)
	if woke && p.bell != nil {
		err = p.bell.Wake()
	}
	return true, woke, err
}

// HasSpace reports whether at least one cell can be pushed. It is the
// condition a producer re-checks after Arm and before blocking.
func (p *Producer) HasSpace() (bool, error) {
	p.mu.Lock()
	room, err := p.free(1)
	p.mu.Unlock()
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
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.s.head.Load()
	used := p.tail - h
	if used > p.s.cap {
		return 0, ErrCorrupt
	}
	p.cachedHead = h
	return int(used), nil
}

// Consumer is the receiving end of a ring. Like the producer it keeps its
// own head privately; it learns that a position holds a cell from the
// cell's stamp (see shared.get), never from the producer's tail.
type Consumer struct {
	s    shared
	head uint64 // next position to read; published after each pop
	// pub is head as last published, in this process's memory: Pending
	// looks at the position it names rather than at the head in the ring,
	// which the peer can rewrite.
	pub  atomic.Uint64
	bell Doorbell // the producer's, or nil (see SetDoorbell)
}

// NewConsumer attaches the consuming side to a ring initialised by Init.
func NewConsumer(region []byte, capacity int) (*Consumer, error) {
	s, err := attach(region, capacity)
	if err != nil {
		return nil, err
	}
	h := s.head.Load()
	c := &Consumer{s: s, head: h}
	c.pub.Store(h)
	return c, nil
}

// Capacity returns the number of cells the ring holds.
func (c *Consumer) Capacity() int { return int(c.s.cap) }

// SetDoorbell gives the consumer the producer's space doorbell, which Pop
// then rings itself when it finds the producer waiting for space. Call it
// before the first Pop.
func (c *Consumer) SetDoorbell(b Doorbell) { c.bell = b }

// Pop copies up to len(dst) cells out of the ring, as many as are
// published in a row from its head, and releases their positions with a
// single store of the head. The copy happens before the release, so the
// caller validates its private copy and the producer may reuse the
// positions at once. wakeProducer reports that the producer was
// waiting for space: Pop rang its doorbell if it has one (SetDoorbell;
// err is then the doorbell's, with the cells taken), and the caller must
// ring it otherwise.
func (c *Consumer) Pop(dst []Cell) (n int, wakeProducer bool, err error) {
	if len(dst) == 0 {
		return 0, false, nil
	}
	for n < len(dst) && c.s.get(c.head+uint64(n), &dst[n]) {
		n++
	}
	if n == 0 {
		return 0, false, nil
	}
	c.head += uint64(n)
	c.s.head.Store(c.head)
	c.pub.Store(c.head)
	woke := wake(c.s.waiting)
	if woke && c.bell != nil {
		err = c.bell.Wake()
	}
	return n, woke, err
}

// PopOne is Pop for a single cell.
func (c *Consumer) PopOne(d *Cell) (ok, wakeProducer bool, err error) {
	if !c.s.get(c.head, d) {
		return false, false, nil
	}
	c.head++
	c.s.head.Store(c.head)
	c.pub.Store(c.head)
	woke := wake(c.s.waiting)
	if woke && c.bell != nil {
		err = c.bell.Wake()
	}
	return true, woke, err
}

// Ready reports whether at least one cell is waiting. It is the
// condition a consumer re-checks after Arm and before blocking. Its error
// is always nil: a stamp that is not the one expected only means that
// nothing is there (the error stays for the Producer's mirror, HasSpace).
func (c *Consumer) Ready() (bool, error) {
	return c.s.published(c.head), nil
}

// Arm announces that the consumer is about to block on its
// doorbell. The caller must re-check Ready afterwards and call Disarm
// if it does not block.
func (c *Consumer) Arm() { c.s.parked.Store(1) }

// Disarm withdraws Arm. A false result means the producer
// already cleared the flag and rang the doorbell (or nothing armed), so
// one spurious wake-up may follow. It only reads the flag when it is
// clear: a poller disarms before every look at the ring, and a
// compare-and-swap would take the cache line from the producer each time.
func (c *Consumer) Disarm() bool { return c.s.parked.Load() != 0 && c.s.parked.CompareAndSwap(1, 0) }

// Pending reports whether the producer has published cells this
// consumer has not popped. Unlike Ready it does not touch the owner's
// state, so a goroutine that does not own the consumer may call it while
// the owner pops: it is how a waiter decides, after Arm, whether it may
// sleep. It looks at the position this consumer last published, kept in
// its own memory: the copy of the head in the ring is the peer's to
// rewrite, and a head the peer moved would otherwise make waiters look
// at a position Pop never reads.
func (c *Consumer) Pending() bool {
	return c.s.published(c.pub.Load())
}
