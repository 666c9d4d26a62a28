package inproc

// Kept in step with the file of the same name in transport/stream: the two
// transports share no code so that neither depends on the other.

import (
	"sync"
	"unsafe"
)

// allocSet remembers which buffers Alloc handed out and have not come back
// through Send or Free. Send must tell them from caller memory exactly: a
// caller buffer taken into the pool would be handed to someone else while
// the caller still writes to it. The backing array's address identifies a
// buffer; callers that reslice an Alloc'd buffer from the front lose the
// zero-copy path and the buffer goes to the garbage collector, which is
// safe.
type allocSet struct {
	mu   sync.Mutex
	live map[*byte]struct{}
}

func (s *allocSet) add(b []byte) {
	s.mu.Lock()
	if s.live == nil {
		s.live = make(map[*byte]struct{})
	}
	s.live[unsafe.SliceData(b)] = struct{}{}
	s.mu.Unlock()
}

// take reports whether b came from Alloc and forgets it, so that a second
// Send or Free of the same buffer cannot put it in the pool twice.
func (s *allocSet) take(b []byte) bool {
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
