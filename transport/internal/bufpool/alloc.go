package bufpool

import (
	"sync"
	"unsafe"

	"github.com/plexus-ipc/plexus"
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

// CheckAlloc is the transports' first check of an Alloc of n bytes: a
// negative size is invalid, one above the frame limit max cannot be sent.
// name, the transport's, starts the error.
func CheckAlloc(name string, n, max int) error {
	switch {
	case n < 0:
		return plexus.Errorf(plexus.InvalidArgument, "%s: Alloc of %d bytes", name, n)
	case n > max:
		return plexus.Errorf(plexus.ResourceExhausted, "%s: Alloc of %d bytes exceeds the %d-byte frame limit", name, n, max)
	}
	return nil
}

// Checked is the transports' Alloc: CheckAlloc, then closed (the link's
// error once it is closed, else nil), then a buffer from Alloc.
func (s *AllocSet) Checked(name string, n, max int, closed func() error) ([]byte, error) {
	if err := CheckAlloc(name, n, max); err != nil {
		return nil, err
	}
	if err := closed(); err != nil {
		return nil, err
	}
	return s.Alloc(n), nil
}

// Alloc returns a buffer of n bytes from the pool, recorded as handed out:
// the transports' Alloc once their checks passed.
func (s *AllocSet) Alloc(n int) []byte {
	b := Get(n)
	s.Add(b)
	return b
}

// Free is the transports' Free: a buffer from Alloc goes back to the pool,
// any other slice is ignored.
func (s *AllocSet) Free(b []byte) {
	if s.Take(b) {
		Put(b)
	}
}
