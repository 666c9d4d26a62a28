package bufpool

import (
	"sync"
	"unsafe"
)

// AllocSet remembers which buffers Alloc handed out and have not come back
// through Send or Free. Send must tell them from caller memory exactly: a
// caller buffer taken into the pool would be handed to someone else while
// the caller still writes to it. The backing array's address identifies a
// buffer; callers that reslice an Alloc'd buffer from the front lose the
// zero-copy path and the buffer goes to the garbage collector, which is
// safe.
type AllocSet struct {
	mu   sync.Mutex
	live map[*byte]struct{}
}

// Add records b as handed out by Alloc.
func (s *AllocSet) Add(b []byte) {
	s.mu.Lock()
	if s.live == nil {
		s.live = make(map[*byte]struct{})
	}
	s.live[unsafe.SliceData(b)] = struct{}{}
	s.mu.Unlock()
}

// Take reports whether b came from Alloc and forgets it, so that a second
// Send or Free of the same buffer cannot put it in the pool twice.
func (s *AllocSet) Take(b []byte) bool {
	// Every Alloc'd buffer has a size-class capacity; checking that first
	// keeps the lock off the path of ordinary caller slices.
	c := cap(b)
	if c < 1<<minClassShift || c&(c-1) != 0 {
		return false
	}
	p := unsafe.SliceData(b)
	s.mu.Lock()
	_, ok := s.live[p]
	if ok {
		delete(s.live, p)
	}
	s.mu.Unlock()
	return ok
}
