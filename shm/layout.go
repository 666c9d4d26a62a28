package shm

import (
	"encoding/binary"
	"fmt"

	"github.com/plexus-ipc/plexus/ring"
)

// Segment header, page 0 of the memfd. DESIGN.md "Segment" is normative.
const (
	Magic         = 0x4d48535355584c50 // "PLXUSSHM" little-endian
	Version       = 2
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
	sideStride    = 64 // per side: u32 pid, u32 state, u64 heartbeat, u32 life
	sidePid       = 0
	sideState     = 4
	sideHeartbeat = 8
	sideLife      = 16 // see life_linux.go
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
	for i := range headerFields {
		if err := headerFields[i].check(hdr, size); err != nil {
			return l, err
		}
	}
	l.TotalSize = size
	spans, err := parseRegions(hdr, size, &l)
	if err != nil {
		return l, err
	}
	return l, checkSpans(&spans, size)
}

// headerField is one of the header's fixed fields: where it lies, whether
// it is a u64 (else a u32), the value it must hold in a segment of size
// bytes, and the error for any other value.
type headerField struct {
	off   int
	wide  bool
	want  func(size int) uint64
	wrong func(got uint64, size int) error
}

func (f *headerField) check(hdr []byte, size int) error {
	le := binary.LittleEndian
	got := uint64(le.Uint32(hdr[f.off:]))
	if f.wide {
		got = le.Uint64(hdr[f.off:])
	}
	if got != f.want(size) {
		return f.wrong(got, size)
	}
	return nil
}

func constant(v uint64) func(int) uint64 { return func(int) uint64 { return v } }

// headerFields are checked in this order: a file that is no segment at all
// is told so before a segment of another version, and that before any
// detail of the layout.
var headerFields = [...]headerField{
	{hdrMagic, true, constant(Magic), func(m uint64, _ int) error {
		return &LayoutError{Field: "magic", Reason: fmt.Sprintf("not a plexus segment (magic %#x)", m)}
	}},
	{hdrVersion, false, constant(Version), func(v uint64, _ int) error {
		return &VersionError{Got: uint32(v), Want: Version}
	}},
	{hdrHeaderSize, false, constant(HeaderSize), func(hs uint64, _ int) error {
		return layoutErr("header size", "%d, want %d", hs, HeaderSize)
	}},
	{hdrTotalSize, true, func(size int) uint64 { return uint64(size) }, func(ts uint64, size int) error {
		return layoutErr("total size", "header says %d bytes but the file has %d", ts, size)
	}},
	{hdrFlags, false, constant(0), func(f uint64, _ int) error {
		return layoutErr("flags", "unknown flags %#x", f)
	}},
}

// parseRegions reads the rings' and pools' places into l and returns their
// byte ranges (rings, then pools) for checkSpans. It checks only what the
// ranges are computed from: each ring's capacity and each pool's size.
func parseRegions(hdr []byte, size int, l *Layout) ([4][2]uint64, error) {
	le := binary.LittleEndian
	var spans [4][2]uint64
	for d := range 2 {
		off := le.Uint64(hdr[hdrRings+16*d:])
		capacity := le.Uint32(hdr[hdrRings+16*d+8:])
		if capacity == 0 || capacity > ring.MaxCapacity || capacity&(capacity-1) != 0 {
			return spans, layoutErr(ringName[d], "capacity %d is not a power of two in [1, %d]", capacity, ring.MaxCapacity)
		}
		spans[d] = [2]uint64{off, off + uint64(ring.RegionSize(int(capacity)))}
		l.RingOffset[d] = int(min(off, uint64(size)))
		l.RingCapacity[d] = int(capacity)
	}
	for d := range 2 {
		off := le.Uint64(hdr[hdrPools+16*d:])
		sz := le.Uint64(hdr[hdrPools+16*d+8:])
		if sz > uint64(size) {
			return spans, layoutErr(poolName[d], "size %d exceeds the segment", sz)
		}
		spans[2+d] = [2]uint64{off, off + sz}
		l.PoolOffset[d] = int(min(off, uint64(size)))
		l.PoolSize[d] = int(sz)
	}
	return spans, nil
}

// checkSpans proves that each region is a page-aligned range inside the
// segment after the header and that no two overlap, in the order rings
// then pools, so that the first bad region is the one reported.
func checkSpans(spans *[4][2]uint64, size int) error {
	names := [4]string{ringName[0], ringName[1], poolName[0], poolName[1]}
	for i, sp := range spans {
		if sp[0]%pageSize != 0 || sp[0] < HeaderSize || sp[0] > uint64(size) || sp[1] > uint64(size) || sp[1] < sp[0] {
			return layoutErr(names[i], "range [%d, %d) is not a page-aligned range inside the %d-byte segment after the header", sp[0], sp[1], size)
		}
		for j := range i {
			if sp[0] < spans[j][1] && spans[j][0] < sp[1] {
				return layoutErr(names[i], "overlaps %s", names[j])
			}
		}
	}
	return nil
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
