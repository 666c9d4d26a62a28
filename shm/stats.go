package shm

// Figures for inspection (plexus inspect, through transport/shmlink's
// Stats): read-only, made of atomic loads, so that any goroutine may take
// them while both processes use the segment, and cheap enough to take once
// a second on a busy link. Every word they read is one the peer may write
// too; each count is bounded by the geometry this process validated, so a
// lying peer can make a figure wrong but never out of range, and nothing
// here is used for anything but showing.

// RingUse is how full one direction's descriptor ring is: Pending
// descriptors published and not yet taken by the receiver, out of
// Capacity (0 <= Pending <= Capacity).
type RingUse struct {
	Pending  int `json:"pending"`
	Capacity int `json:"capacity"`
}

// ClassUse is one size class of a slot pool: Size bytes per slot, Count
// slots, of which InUse are allocated (0 <= InUse <= Count). A slot is in
// use from its owner's Alloc until someone frees it: while the owner
// fills it, while a descriptor naming it is in the ring, and while the
// receiver holds the frame.
type ClassUse struct {
	Size  int `json:"size"`
	Count int `json:"count"`
	InUse int `json:"in_use"`
}

// Use returns each class of the pool, smallest first, with the slots in
// use now. It loads every slot's generation once (an odd one is
// allocated), so it costs one atomic load per slot; while either process
// allocates and frees it is a snapshot, not a consistent cut.
func (p *Pool) Use() []ClassUse {
	out := make([]ClassUse, p.nclasses)
	for ci := range p.nclasses {
		c := &p.classes[ci]
		n := 0
		// The class's indices were proved below nslots at attach, so
		// gen stays inside the table whatever the peer wrote.
		for i := c.first; i < c.first+c.count; i++ {
			if p.gen(i).Load()&1 != 0 {
				n++
			}
		}
		out[ci] = ClassUse{Size: int(c.size), Count: int(c.count), InUse: n}
	}
	return out
}
