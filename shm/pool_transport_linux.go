package shm

import "unsafe"

// SlotAt locates the slot that holds the first byte of b (for a zero-length
// b with spare capacity, the byte b would start at). It returns the slot's
// global index, b's offset inside the slot, and how many bytes of the slot
// remain from that offset. ok is false if b does not start inside the data
// of one of this pool's slots (header, table, padding, or other memory).
//
// It only compares addresses with the pool's private geometry and reads
// nothing from shared memory, so it costs a few comparisons; a transport
// uses it to recognise a buffer that Alloc returned (send it by reference)
// and the slot a received payload lives in (free it on Release).
func (p *Pool) SlotAt(b []byte) (index uint32, off, room int, ok bool) {
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
