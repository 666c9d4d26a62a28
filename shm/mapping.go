package shm

import (
	"sync/atomic"
	"unsafe"

	"github.com/plexus-ipc/plexus/ring"
)

// mapping is a validated view of a segment's bytes: the pieces each
// endpoint needs, located by a process-local Layout.
type mapping struct {
	mem    []byte
	layout Layout
	rings  [2][]byte
	pools  [2]*Pool
}

// initMapping writes a fresh segment into mem (creator side).
func initMapping(mem []byte, l *Layout, cfg *Config) error {
	writeHeader(mem, l)
	for d := range 2 {
		if err := ring.Init(mem[l.RingOffset[d]:l.RingOffset[d]+ring.RegionSize(l.RingCapacity[d])], l.RingCapacity[d]); err != nil {
			return err
		}
	}
	for d, classes := range [2][]Class{cfg.HostClasses, cfg.PluginClasses} {
		if err := InitPool(mem[l.PoolOffset[d]:l.PoolOffset[d]+l.PoolSize[d]], classes); err != nil {
			return err
		}
	}
	return nil
}

// attachMapping validates mem as a segment and attaches to its parts. The
// header is copied first so that a peer rewriting it concurrently cannot
// make validation and use disagree.
func attachMapping(mem []byte) (*mapping, error) {
	var hdr [HeaderSize]byte
	if len(mem) < HeaderSize {
		return nil, layoutErr("size", "segment of %d bytes is smaller than its %d-byte header", len(mem), HeaderSize)
	}
	copy(hdr[:], mem)
	l, err := parseHeader(hdr[:], len(mem))
	if err != nil {
		return nil, err
	}
	m := &mapping{mem: mem, layout: l}
	for d := range 2 {
		m.rings[d] = mem[l.RingOffset[d] : l.RingOffset[d]+ring.RegionSize(l.RingCapacity[d])]
		p, err := AttachPool(mem[l.PoolOffset[d] : l.PoolOffset[d]+l.PoolSize[d]])
		if err != nil {
			return nil, err
		}
		m.pools[d] = p
	}
	return m, nil
}

// sideWord32 returns a shared per-side word (pid or state).
func (m *mapping) sideWord32(s Side, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&m.mem[hdrSides+sideStride*int(s)+off]))
}

func (m *mapping) heartbeat(s Side) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&m.mem[hdrSides+sideStride*int(s)+sideHeartbeat]))
}
