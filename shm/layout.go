package shm

import (
	"encoding/binary"
	"fmt"

	"github.com/plexus-ipc/plexus/ring"
)

// Segment header, page 0 of the memfd. DESIGN.md "Segment" is normative.
const (
	Magic         = 0x4d48535355584c50 // "PLXUSSHM" little-endian
	Version       = 1
	HeaderSize    = 4096
	pageSize      = 4096
	hdrMagic      = 0
	hdrVersion    = 8
	hdrHeaderSize = 12
	hdrTotalSize  = 16
	hdrFlags      = 24
	hdrRings      = 32 // 2 x {u64 offset, u32 capacity, u32 reserved}
	hdrPools      = 64 // 2 x {u64 offset, u64 size}
	hdrSides      = 128
	sideStride    = 64 // per side: u32 pid, u32 state, u64 heartbeat
	sidePid       = 0
	sideState     = 4
	sideHeartbeat = 8
)

// Direction indexes rings and pools: the host sends on direction HostToPlugin
// from the host's pool, the plugin on PluginToHost from the plugin's pool.
type Direction int

const (
	HostToPlugin Direction = 0
	PluginToHost Direction = 1
)

// Side is one end of a link.
type Side int

const (
	Host   Side = 0
	Plugin Side = 1
)

func (s Side) String() string {
	if s == Host {
		return "host"
	}
	return "plugin"
}

// tx is the direction this side sends on; its pool is the pool of that
// direction.
func (s Side) tx() Direction { return Direction(s) }
func (s Side) rx() Direction { return Direction(1 - s) }

// Layout is the validated, process-local copy of a segment's geometry. It
// is never re-read from shared memory after Open.
type Layout struct {
	TotalSize    int
	RingOffset   [2]int
	RingCapacity [2]int
	PoolOffset   [2]int
	PoolSize     [2]int
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// planLayout places header, rings and pools page-aligned in that order.
func planLayout(cfg *Config) (Layout, error) {
	var l Layout
	off := HeaderSize
	for d := range 2 {
		capacity := cfg.RingCapacity
		if capacity <= 0 || capacity > ring.MaxCapacity || capacity&(capacity-1) != 0 {
			return l, layoutErr("ring capacity", "%d is not a power of two in [1, %d]", capacity, ring.MaxCapacity)
		}
		l.RingOffset[d] = off
		l.RingCapacity[d] = capacity
		off = alignUp(off+ring.RegionSize(capacity), pageSize)
	}
	for d, classes := range [2][]Class{cfg.HostClasses, cfg.PluginClasses} {
		size, err := PoolRegionSize(classes)
		if err != nil {
			return l, err
		}
		l.PoolOffset[d] = off
		l.PoolSize[d] = size
		off = alignUp(off+size, pageSize)
	}
	l.TotalSize = off
	return l, nil
}

func writeHeader(hdr []byte, l *Layout) {
	le := binary.LittleEndian
	clear(hdr[:HeaderSize])
	le.PutUint64(hdr[hdrMagic:], Magic)
	le.PutUint32(hdr[hdrVersion:], Version)
	le.PutUint32(hdr[hdrHeaderSize:], HeaderSize)
	le.PutUint64(hdr[hdrTotalSize:], uint64(l.TotalSize))
	for d := range 2 {
		le.PutUint64(hdr[hdrRings+16*d:], uint64(l.RingOffset[d]))
		le.PutUint32(hdr[hdrRings+16*d+8:], uint32(l.RingCapacity[d]))
		le.PutUint64(hdr[hdrPools+16*d:], uint64(l.PoolOffset[d]))
		le.PutUint64(hdr[hdrPools+16*d+8:], uint64(l.PoolSize[d]))
	}
}

// parseHeader validates a header copy against the size of the mapping and
// returns the layout. Every field is checked before it is used as an
// offset; ranges are computed in uint64 so that no value can overflow.
func parseHeader(hdr []byte, size int) (Layout, error) {
	var l Layout
	if len(hdr) < HeaderSize || size < HeaderSize {
		return l, layoutErr("size", "segment of %d bytes is smaller than its %d-byte header", size, HeaderSize)
	}
	le := binary.LittleEndian
	if m := le.Uint64(hdr[hdrMagic:]); m != Magic {
		return l, &LayoutError{Field: "magic", Reason: fmt.Sprintf("not a plexus segment (magic %#x)", m)}
	}
	if v := le.Uint32(hdr[hdrVersion:]); v != Version {
		return l, &VersionError{Got: v, Want: Version}
	}
	if hs := le.Uint32(hdr[hdrHeaderSize:]); hs != HeaderSize {
		return l, layoutErr("header size", "%d, want %d", hs, HeaderSize)
	}
	if ts := le.Uint64(hdr[hdrTotalSize:]); ts != uint64(size) {
		return l, layoutErr("total size", "header says %d bytes but the file has %d", ts, size)
	}
	if f := le.Uint32(hdr[hdrFlags:]); f != 0 {
		return l, layoutErr("flags", "unknown flags %#x", f)
	}
	l.TotalSize = size
	var spans [4][2]uint64
	for d := range 2 {
		off := le.Uint64(hdr[hdrRings+16*d:])
		capacity := le.Uint32(hdr[hdrRings+16*d+8:])
		if capacity == 0 || capacity > ring.MaxCapacity || capacity&(capacity-1) != 0 {
			return l, layoutErr(ringName[d], "capacity %d is not a power of two in [1, %d]", capacity, ring.MaxCapacity)
		}
		spans[d] = [2]uint64{off, off + uint64(ring.RegionSize(int(capacity)))}
		l.RingOffset[d] = int(min(off, uint64(size)))
		l.RingCapacity[d] = int(capacity)
	}
	for d := range 2 {
		off := le.Uint64(hdr[hdrPools+16*d:])
		sz := le.Uint64(hdr[hdrPools+16*d+8:])
		if sz > uint64(size) {
			return l, layoutErr(poolName[d], "size %d exceeds the segment", sz)
		}
		spans[2+d] = [2]uint64{off, off + sz}
		l.PoolOffset[d] = int(min(off, uint64(size)))
		l.PoolSize[d] = int(sz)
	}
	names := [4]string{ringName[0], ringName[1], poolName[0], poolName[1]}
	for i, sp := range spans {
		if sp[0]%pageSize != 0 || sp[0] < HeaderSize || sp[0] > uint64(size) || sp[1] > uint64(size) || sp[1] < sp[0] {
			return l, layoutErr(names[i], "range [%d, %d) is not a page-aligned range inside the %d-byte segment after the header", sp[0], sp[1], size)
		}
		for j := range i {
			if sp[0] < spans[j][1] && spans[j][0] < sp[1] {
				return l, layoutErr(names[i], "overlaps %s", names[j])
			}
		}
	}
	return l, nil
}

var (
	ringName = [2]string{"ring host->plugin", "ring plugin->host"}
	poolName = [2]string{"pool host", "pool plugin"}
)

// VersionError reports a segment written by a different protocol version.
type VersionError struct{ Got, Want uint32 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("shm: segment version %d, this build speaks version %d", e.Got, e.Want)
}

// Unwrap makes a version mismatch a protocol violation.
func (e *VersionError) Unwrap() error { return ErrProtocol }
