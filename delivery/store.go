package delivery

import (
	"sync"
	"time"
)

// Store remembers the IDs of the messages the receiving side handled, so
// that a resent one is acknowledged without being handled again.
//
// The receiving side calls its methods one at a time, and Record only
// after the message's handler has returned: Record cannot fail, since the
// handler's effect exists whatever the store says, and a store that
// cannot keep an ID only weakens what a later resend finds. A store that
// must survive the process (a plugin's restarts) should not write in
// Record but make the handler's own record of its effect the record of
// the ID (see the package comment), so that the two cannot part.
type Store interface {
	// Seen reports whether the message id was handled (and is still
	// remembered).
	Seen(id string) bool
	// Record remembers that the message id was handled.
	Record(id string)
}

// WindowConfig bounds MemoryStore's window of recent IDs: the oldest go
// first once there are Size of them, and any older than Age. Zero fields
// take the defaults.
type WindowConfig struct {
	// Size is the most IDs kept; default 65,536 (a few MiB).
	Size int
	// Age is how long an ID is kept; default 10 minutes. A sender resends
	// within seconds (its backoff is capped at a second by default), so
	// only a resend long delayed (a peer that was gone for longer) finds
	// its ID forgotten, and is handled again.
	Age time.Duration
}

// Defaults of WindowConfig.
const (
	DefaultWindowSize = 65536
	DefaultWindowAge  = 10 * time.Minute
)

func (w WindowConfig) withDefaults() WindowConfig {
	if w.Size <= 0 {
		w.Size = DefaultWindowSize
	}
	if w.Age <= 0 {
		w.Age = DefaultWindowAge
	}
	return w
}

// MemoryStore is the default Store: a window of the most recent IDs in
// this process's memory, oldest out first. It is safe for concurrent use.
type MemoryStore struct {
	w   WindowConfig
	now func() time.Time // time.Now; tests move it

	mu   sync.Mutex
	at   map[string]time.Time // when each ID in the window was recorded
	fifo []recorded           // the window, oldest first, from head
	head int
}

type recorded struct {
	id string
	at time.Time
}

// NewMemoryStore returns an empty window bounded by w.
func NewMemoryStore(w WindowConfig) *MemoryStore {
	return &MemoryStore{w: w.withDefaults(), now: time.Now, at: map[string]time.Time{}}
}

// Seen reports whether id is in the window.
func (s *MemoryStore) Seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	_, ok := s.at[id]
	return ok
}

// Record adds id to the window, making room by evicting the oldest.
func (s *MemoryStore) Record(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	if _, ok := s.at[id]; ok {
		return
	}
	for len(s.at) >= s.w.Size {
		s.evictLocked()
	}
	s.at[id] = now
	s.fifo = append(s.fifo, recorded{id: id, at: now})
}

// Len returns how many IDs the window holds.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	return len(s.at)
}

// expireLocked evicts the IDs older than the window's age.
func (s *MemoryStore) expireLocked(now time.Time) {
	for s.head < len(s.fifo) && now.Sub(s.fifo[s.head].at) > s.w.Age {
		s.evictLocked()
	}
}

// evictLocked drops the oldest ID. The slice's dead front is dropped
// once it is half the slice, so that the window's memory follows its
// size rather than the IDs it ever held.
func (s *MemoryStore) evictLocked() {
	delete(s.at, s.fifo[s.head].id)
	s.fifo[s.head] = recorded{}
	s.head++
	if s.head >= len(s.fifo)/2 {
		s.fifo = append(s.fifo[:0], s.fifo[s.head:]...)
		s.head = 0
	}
}
