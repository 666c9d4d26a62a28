package shm

// Rings returns how full this side's two rings are: tx, the one it sends
// on (descriptors the peer has not taken yet), and rx, the one it receives
// from (descriptors this side has not taken yet). Any goroutine may call
// it at any time while the segment is mapped, concurrently with Send and
// Recv: it takes no lock and reads only atomic words (ring.Producer.Fill,
// ring.Consumer.Fill). The peer's index is clamped, not validated: a
// figure to show, not to act on.
func (e *Endpoint) Rings() (tx, rx RingUse) {
	tx = RingUse{Pending: e.tx.Fill(), Capacity: e.tx.Capacity()}
	rx = RingUse{Pending: e.rx.Fill(), Capacity: e.rx.Capacity()}
	return tx, rx
}
