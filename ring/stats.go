package ring

// Fill counts for inspection (plexus inspect, via shm and transport/shmlink):
// how many cells are published and not yet taken. They read only the shared
// words and this side's published copy of its own index, with atomic loads,
// so any goroutine may call them while the owner pushes or pops; a Producer's
// or Consumer's private fields belong to its one goroutine and are not read.
// The peer writes the other index at will, so a count made with it is
// clamped to [0, capacity]: it is a figure to show, never one to act on.

// Fill returns how many cells this producer has published that the
// consumer has not taken yet, clamped to [0, Capacity].
func (p *Producer) Fill() int {
	// The shared tail is this side's (stored on every push); the head is
	// the peer's. Head first: the tail loaded after it is at least as
	// new, so with an honest peer the difference never wraps (a push and
	// a pop between the loads can only overstate it, which the clamp
	// bounds).
	h := p.s.head.Load()
	return clampFill(p.s.tail.Load(), h, p.s.cap)
}

// Fill returns how many cells the producer has published that this
// consumer has not taken yet, clamped to [0, Capacity].
func (c *Consumer) Fill() int {
	// pub is the head as this side last published it, in this process's
	// memory (see Pending); the tail is the peer's. Head first, as in
	// Producer.Fill.
	h := c.pub.Load()
	return clampFill(c.s.tail.Load(), h, c.s.cap)
}

// clampFill is tail-head as a count of cells in a ring of capacity cells:
// a head past the tail (wrapped difference) reads as empty, a tail more
// than the capacity ahead as full.
func clampFill(tail, head, capacity uint64) int {
	n := int64(tail - head)
	switch {
	case n < 0:
		return 0
	case uint64(n) > capacity:
		return int(capacity)
	}
	return int(n)
}
