package ring

import "sync/atomic"

// Consumer is the receiving end of a ring. Like the producer it keeps its
// own head privately and caches the producer's tail.
type Consumer struct {
	s          shared
	head       uint64 // next position to read; published after each pop
	cachedTail uint64 // last tail read from the producer
	// pub is head as last published, in this process's memory: Pending
	// compares the tail with it rather than with the head in the ring,
	// which the peer can rewrite.
	pub atomic.Uint64
}

// NewConsumer attaches the consuming side to a ring initialised by Init.
func NewConsumer(region []byte, capacity int) (*Consumer, error) {
	s, err := attach(region, capacity)
	if err != nil {
		return nil, err
	}
	h := s.head.Load()
	c := &Consumer{s: s, head: h, cachedTail: h}
	c.pub.Store(h)
	return c, nil
}

// Capacity returns the number of cells the ring holds.
func (c *Consumer) Capacity() int { return int(c.s.cap) }

// avail returns how many cells are ready. It trusts the cached tail
// only while that shows at least want (>= 1) cells; otherwise it reads
// the tail, so that a short count is everything published.
func (c *Consumer) avail(want uint64) (uint64, error) {
	if n := c.cachedTail - c.head; n >= want {
		return n, nil
	}
	t := c.s.tail.Load()
	n := t - c.head
	if n > c.s.cap { // tail behind head, or more than the ring can hold
		return 0, ErrCorrupt
	}
	c.cachedTail = t
	return n, nil
}

// Pop copies up to len(dst) cells out of the ring and releases their
// positions with a single store of the head. The copy happens before the
// release, so the caller validates its private copy and the producer may
// reuse the positions at once. wakeProducer reports that the producer was
// waiting for space and the caller must ring its doorbell.
func (c *Consumer) Pop(dst []Cell) (n int, wakeProducer bool, err error) {
	if len(dst) == 0 {
		return 0, false, nil
	}
	avail, err := c.avail(uint64(len(dst)))
	if err != nil || avail == 0 {
		return 0, false, err
	}
	n = len(dst)
	if uint64(n) > avail {
		n = int(avail)
	}
	for i := range n {
		dst[i] = *c.s.at(c.head + uint64(i))
	}
	c.head += uint64(n)
	c.s.head.Store(c.head)
	c.pub.Store(c.head)
	return n, wake(c.s.waiting), nil
}

// PopOne is Pop for a single cell.
func (c *Consumer) PopOne(d *Cell) (ok, wakeProducer bool, err error) {
	avail, err := c.avail(1)
	if err != nil || avail == 0 {
		return false, false, err
	}
	*d = *c.s.at(c.head)
	c.head++
	c.s.head.Store(c.head)
	c.pub.Store(c.head)
	return true, wake(c.s.waiting), nil
}

// Ready reports whether at least one cell is waiting. It is the
// condition a consumer re-checks after Arm and before blocking.
func (c *Consumer) Ready() (bool, error) {
	n, err := c.avail(1)
	return n > 0, err
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
// the owner pops: it is how a waiter decides, after Arm, whether
// it may sleep. It compares the shared tail with the head this consumer
// published, kept in its own memory: the copy of the head in the ring is
// the peer's to rewrite, and a peer that set it one past the tail would
// otherwise make every waiter see data that Pop never finds, and spin. A
// corrupt tail reads as pending, so that the owner's next Pop finds and
// reports it.
func (c *Consumer) Pending() bool {
	return c.s.tail.Load() != c.pub.Load()
}
