package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// poolBytes returns n zeroed bytes starting on a 64-byte boundary, the
// alignment a segment gives every pool.
func poolBytes(n int) []byte {
	b := make([]byte, n+slotAlign)
	off := (slotAlign - int(uintptr(unsafe.Pointer(&b[0]))%slotAlign)) % slotAlign
	return b[off : off+n : off+n]
}

func newTestPool(tb testing.TB, classes []Class) (*Pool, []byte) {
	tb.Helper()
	size, err := PoolRegionSize(classes)
	require.NoError(tb, err)
	region := poolBytes(size)
	require.NoError(tb, InitPool(region, classes))
	p, err := AttachPool(region)
	require.NoError(tb, err)
	return p, region
}

// smallClasses keeps every class a few slots deep so that tests reach
// empty classes, fall-through and exhaustion quickly.
var smallClasses = []Class{{Size: 64, Count: 6}, {Size: 128, Count: 4}, {Size: 4096, Count: 3}}

func classIndexOf(p *Pool, index uint32) int {
	for ci := range p.nclasses {
		if p.classes[ci].holds(index) {
			return ci
		}
	}
	return -1
}

// poolErrAllowed is the whole error contract of the pool under attack:
// protocol violations, and the two answers an honest pool gives.
func poolErrAllowed(err error) bool {
	return err == nil || errors.Is(err, ErrProtocol) || err == ErrNoSlot || err == ErrTooLarge
}

// withTimeout runs f on another goroutine and fails the test if it does not
// return in time: the pool promises bounded work even against a hostile
// peer, so a hang is a bug, not a slow machine.
func withTimeout(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
}

func TestPoolLayoutRoundTrip(t *testing.T) {
	classes := DefaultClasses()
	size, err := PoolRegionSize(classes)
	require.NoError(t, err)
	payload := 0
	for _, c := range classes {
		payload += c.Size * c.Count
	}
	require.Equal(t, 3<<20+640<<10, payload, "default classes hold 3.6 MiB")
	require.GreaterOrEqual(t, size, payload)
	require.Less(t, size, payload+5*poolPageAlign+658*8+poolOffClasses+4*poolClassStride)

	p, region := newTestPool(t, classes)
	require.Equal(t, classes, p.Classes())
	require.Equal(t, 512+128+16+2, p.NumSlots())
	require.Equal(t, 1<<20, p.MaxSize())
	require.Equal(t, p.NumSlots(), p.FreeSlots())
	require.NoError(t, p.CheckFreeLists())

	// The bytes follow DESIGN.md "Slot pool", so another implementation
	// can read them.
	le := binary.LittleEndian
	require.Equal(t, uint32(4), le.Uint32(region[0:]))
	require.Equal(t, uint32(p.NumSlots()), le.Uint32(region[4:]))
	require.Equal(t, uint64(128+4*64), le.Uint64(region[8:]))
	require.Equal(t, uint64(len(region)), le.Uint64(region[16:]))
	require.Zero(t, le.Uint32(region[64:]))
	first := uint32(0)
	for i, c := range classes {
		e := region[128+64*i:]
		require.Equal(t, uint64(first)+1, le.Uint64(e[0:]), "class %d list starts at its first slot, tag 0", i)
		require.Equal(t, uint32(c.Size), le.Uint32(e[8:]))
		require.Equal(t, uint32(c.Count), le.Uint32(e[12:]))
		require.Equal(t, first, le.Uint32(e[16:]))
		require.Zero(t, le.Uint32(e[20:]))
		require.Zero(t, le.Uint64(e[24:])%4096, "class %d data is page-aligned", i)
		for k := range uint32(c.Count) {
			ent := region[le.Uint64(region[8:])+uint64(first+k)*8:]
			require.Zero(t, le.Uint32(ent[0:]), "gen starts even")
			want := first + k + 2
			if int(k) == c.Count-1 {
				want = 0
			}
			require.Equal(t, want, le.Uint32(ent[4:]))
		}
		first += uint32(c.Count)
	}

	// A second handle (the other process) sees the same pool.
	q, err := AttachPool(region)
	require.NoError(t, err)
	require.Equal(t, classes, q.Classes())

	// Classes returns a copy.
	got := p.Classes()
	got[0].Size = 1
	require.Equal(t, classes, p.Classes())

	// A larger region is claimed whole.
	big := poolBytes(size + 4096)
	require.NoError(t, InitPool(big, classes))
	q, err = AttachPool(big)
	require.NoError(t, err)
	require.Equal(t, classes, q.Classes())
	_, err = AttachPool(big[:size])
	require.ErrorIs(t, err, ErrProtocol, "the recorded size must match")
}

func TestPoolRejectsBadClasses(t *testing.T) {
	many := make([]Class, 17)
	for i := range many {
		many[i] = Class{Size: 64 * (i + 1), Count: 1}
	}
	cases := []struct {
		name    string
		classes []Class
		field   string
	}{
		{"none", nil, "pool classes"},
		{"too many", many, "pool classes"},
		{"unsorted", []Class{{256, 1}, {128, 1}}, "pool class 1 size"},
		{"equal sizes", []Class{{128, 1}, {128, 1}}, "pool class 1 size"},
		{"not a multiple of 64", []Class{{100, 1}}, "pool class 0 size"},
		{"too small", []Class{{0, 1}}, "pool class 0 size"},
		{"too big", []Class{{2 << 30, 1}}, "pool class 0 size"},
		{"zero count", []Class{{64, 0}}, "pool class 0 count"},
		{"negative count", []Class{{64, -1}}, "pool class 0 count"},
		{"too many slots", []Class{{64, 1 << 23}, {128, 1<<23 + 1}}, "pool slots"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PoolRegionSize(tc.classes)
			var le *LayoutError
			require.ErrorAs(t, err, &le)
			require.Equal(t, tc.field, le.Field, "error: %v", err)
			require.ErrorIs(t, InitPool(poolBytes(1<<16), tc.classes), ErrProtocol)
		})
	}

	size, err := PoolRegionSize(smallClasses)
	require.NoError(t, err)
	require.ErrorContains(t, InitPool(poolBytes(size-64), smallClasses), "smaller than")
	b := poolBytes(size + 64)
	require.ErrorContains(t, InitPool(b[8:], smallClasses), "aligned")
	_, err = AttachPool(b[8:])
	require.ErrorContains(t, err, "aligned")
	_, err = AttachPool(nil)
	require.ErrorIs(t, err, ErrProtocol)
}

func TestPoolAttachRejects(t *testing.T) {
	_, region0 := newTestPool(t, smallClasses)
	le := binary.LittleEndian
	cls := func(i, off int) int { return poolOffClasses + i*poolClassStride + off }
	table := int(le.Uint64(region0[poolOffTable:]))
	cases := []struct {
		name  string
		edit  func(r []byte)
		field string
	}{
		{"size", func(r []byte) { le.PutUint64(r[poolOffSize:], uint64(len(r)+64)) }, "pool size"},
		{"no classes", func(r []byte) { le.PutUint32(r[poolOffNClasses:], 0) }, "pool classes"},
		{"17 classes", func(r []byte) { le.PutUint32(r[poolOffNClasses:], 17) }, "pool classes"},
		{"no slots", func(r []byte) { le.PutUint32(r[poolOffNSlots:], 0) }, "pool slots"},
		{"slot sum", func(r []byte) { le.PutUint32(r[poolOffNSlots:], 14) }, "pool slots"},
		{"slot sum small", func(r []byte) { le.PutUint32(r[poolOffNSlots:], 12) }, "pool class 2 count"},
		{"table unaligned", func(r []byte) { le.PutUint64(r[poolOffTable:], uint64(table+4)) }, "pool table"},
		{"table in header", func(r []byte) { le.PutUint64(r[poolOffTable:], 64) }, "pool table"},
		{"table outside", func(r []byte) { le.PutUint64(r[poolOffTable:], 1<<63) }, "pool table"},
		{"unsorted", func(r []byte) { le.PutUint32(r[cls(1, clsOffSize):], 64) }, "pool class 1 size"},
		{"size odd", func(r []byte) { le.PutUint32(r[cls(0, clsOffSize):], 65) }, "pool class 0 size"},
		{"count zero", func(r []byte) { le.PutUint32(r[cls(0, clsOffCount):], 0) }, "pool class 0 count"},
		{"count huge", func(r []byte) { le.PutUint32(r[cls(2, clsOffCount):], 1<<31) }, "pool class 2 count"},
		{"first", func(r []byte) { le.PutUint32(r[cls(1, clsOffFirst):], 5) }, "pool class 1 first"},
		{"reserved", func(r []byte) { le.PutUint32(r[cls(1, clsOffReserved):], 1) }, "pool class 1 reserved"},
		{"data unaligned", func(r []byte) { le.PutUint64(r[cls(0, clsOffData):], le.Uint64(r[cls(0, clsOffData):])+8) }, "pool class 0 data"},
		{"data outside", func(r []byte) { le.PutUint64(r[cls(2, clsOffData):], uint64(len(r))) }, "pool class 2 data"},
		{"data wraps", func(r []byte) { le.PutUint64(r[cls(2, clsOffData):], ^uint64(63)) }, "pool class 2 data"},
		{"data overlaps", func(r []byte) { le.PutUint64(r[cls(1, clsOffData):], le.Uint64(r[cls(0, clsOffData):])) }, "pool class 1 data"},
		{"data over table", func(r []byte) { le.PutUint64(r[cls(0, clsOffData):], uint64(table)&^63) }, "pool class 0 data"},
		{"data over header", func(r []byte) { le.PutUint64(r[cls(0, clsOffData):], 64) }, "pool class 0 data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := poolBytes(len(region0))
			copy(r, region0)
			tc.edit(r)
			_, err := AttachPool(r)
			var le *LayoutError
			require.ErrorAs(t, err, &le)
			require.ErrorIs(t, err, ErrProtocol)
			require.Equal(t, tc.field, le.Field, "error: %v", err)
		})
	}
}

func TestPoolAllocPicksSmallestClass(t *testing.T) {
	p, _ := newTestPool(t, []Class{{64, 2}, {256, 2}, {1024, 1}})
	alloc := func(n, wantClass int) Slot {
		t.Helper()
		s, err := p.Alloc(n)
		require.NoError(t, err, "Alloc(%d)", n)
		require.Equal(t, wantClass, classIndexOf(p, s.Index), "Alloc(%d) slot %d", n, s.Index)
		require.Equal(t, p.Classes()[wantClass].Size, len(s.Buf))
		require.Equal(t, len(s.Buf), cap(s.Buf))
		require.Equal(t, uint32(1), s.Gen&1, "held slots have odd generations")
		return s
	}
	a := alloc(0, 0)
	b := alloc(64, 0)
	c := alloc(1, 1) // class 0 empty: falls through
	d := alloc(65, 1)
	e := alloc(200, 2) // class 1 empty too
	_, err := p.Alloc(1)
	require.Equal(t, ErrNoSlot, err)
	_, err = p.Alloc(1025)
	require.Equal(t, ErrTooLarge, err)
	_, err = p.Alloc(-1)
	require.Error(t, err)

	for _, s := range []Slot{a, b, c, d, e} {
		wake, err := p.Free(s.Index, s.Gen)
		require.NoError(t, err)
		require.False(t, wake)
	}
	// Freed slots are reused with the next odd generation.
	s := alloc(10, 0)
	require.Equal(t, uint32(3), s.Gen)
	alloc(1024, 2)
	require.NoError(t, func() error { _, err := p.Free(s.Index, s.Gen); return err }())
}

func TestPoolSlotsDoNotOverlap(t *testing.T) {
	classes := []Class{{64, 16}, {192, 8}, {4096, 4}, {8192, 2}}
	p, region := newTestPool(t, classes)
	var held []Slot
	for ci, c := range classes {
		for range c.Count {
			s, err := p.Alloc(c.Size)
			require.NoError(t, err)
			require.Equal(t, ci, classIndexOf(p, s.Index))
			held = append(held, s)
		}
	}
	_, err := p.Alloc(0)
	require.Equal(t, ErrNoSlot, err)
	start := uintptr(unsafe.Pointer(&region[0]))
	for _, s := range held {
		at := uintptr(unsafe.Pointer(&s.Buf[0]))
		require.GreaterOrEqual(t, at, start)
		require.LessOrEqual(t, at+uintptr(len(s.Buf)), start+uintptr(len(region)))
		require.Zero(t, at%slotAlign)
		for i := range s.Buf {
			s.Buf[i] = byte(s.Index*7 + 1)
		}
	}
	for _, s := range held {
		for i, v := range s.Buf {
			if v != byte(s.Index*7+1) {
				t.Fatalf("slot %d byte %d is %d: another slot's write reached it", s.Index, i, v)
			}
		}
	}
	// The bookkeeping survived the writes.
	for _, s := range held {
		_, err := p.Free(s.Index, s.Gen)
		require.NoError(t, err)
	}
	require.NoError(t, p.CheckFreeLists())
	require.Equal(t, p.NumSlots(), p.FreeSlots())
}

func TestPoolResolve(t *testing.T) {
	p, _ := newTestPool(t, smallClasses)
	s, err := p.Alloc(100)
	require.NoError(t, err)
	copy(s.Buf[10:], "hello")
	b, err := p.Resolve(s.Index, s.Gen, 10, 5)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	require.Equal(t, 5, cap(b), "a view must not reach past the payload")
	require.Same(t, &s.Buf[10], &b[0])

	b, err = p.Resolve(s.Index, s.Gen, 128, 0)
	require.NoError(t, err)
	require.Empty(t, b)
	b, err = p.Resolve(s.Index, s.Gen, 0, 128)
	require.NoError(t, err)
	require.Len(t, b, 128)

	for _, ref := range [][4]uint32{
		{s.Index, s.Gen, 0, 129},
		{s.Index, s.Gen, 129, 0},
		{s.Index, s.Gen, 0xffffffff, 2}, // overflows u32
		{s.Index, s.Gen, 1, 0xffffffff},
		{uint32(p.NumSlots()), 1, 0, 0},
		{0xffffffff, 1, 0, 0},
	} {
		_, err := p.Resolve(ref[0], ref[1], ref[2], ref[3])
		require.ErrorIs(t, err, ErrBadRef, "ref %v", ref)
		require.ErrorIs(t, err, ErrProtocol)
	}
	for _, g := range []uint32{s.Gen + 1, s.Gen + 2, s.Gen - 1, 0} {
		_, err := p.Resolve(s.Index, g, 0, 1)
		require.ErrorIs(t, err, ErrStale, "gen %d", g)
	}
	other := (s.Index + 1) % uint32(p.NumSlots())
	_, err = p.Resolve(other, 1, 0, 1)
	require.ErrorIs(t, err, ErrStale, "never allocated")

	_, err = p.Free(s.Index, s.Gen)
	require.NoError(t, err)
	_, err = p.Resolve(s.Index, s.Gen, 0, 1)
	require.ErrorIs(t, err, ErrStale, "freed")
}

func TestPoolFreeRejects(t *testing.T) {
	p, _ := newTestPool(t, smallClasses)
	s, err := p.Alloc(1)
	require.NoError(t, err)
	for _, g := range []uint32{0, s.Gen + 1, s.Gen + 2, s.Gen - 2} {
		_, err := p.Free(s.Index, g)
		require.ErrorIs(t, err, ErrStale, "gen %d", g)
	}
	_, err = p.Free(uint32(p.NumSlots()), s.Gen)
	require.ErrorIs(t, err, ErrBadRef)
	_, err = p.Free(s.Index, s.Gen)
	require.NoError(t, err)
	_, err = p.Free(s.Index, s.Gen)
	require.ErrorIs(t, err, ErrStale, "double free")
	require.ErrorIs(t, err, ErrProtocol)
	require.NoError(t, p.CheckFreeLists())
	require.Equal(t, p.NumSlots(), p.FreeSlots())
}

// Generations are 32 bits; a wrap after 2^31 reuses of one slot is
// accepted (DESIGN.md "Slot pool").
func TestPoolGenerationWraps(t *testing.T) {
	p, _ := newTestPool(t, []Class{{64, 1}})
	p.gen(0).Store(0xfffffffe)
	s, err := p.Alloc(1)
	require.NoError(t, err)
	require.Equal(t, uint32(0xffffffff), s.Gen)
	_, err = p.Free(s.Index, s.Gen)
	require.NoError(t, err)
	require.Zero(t, p.gen(0).Load())
	s, err = p.Alloc(1)
	require.NoError(t, err)
	require.Equal(t, uint32(1), s.Gen)
}

func TestPoolWaitingFlag(t *testing.T) {
	p, region := newTestPool(t, smallClasses)
	q, err := AttachPool(region) // the receiver's handle
	require.NoError(t, err)
	hold := func() Slot {
		s, err := p.Alloc(1)
		require.NoError(t, err)
		return s
	}
	free := func(s Slot) bool {
		wake, err := q.Free(s.Index, s.Gen)
		require.NoError(t, err)
		return wake
	}
	a, b := hold(), hold()

	p.Arm()
	require.True(t, free(a), "the first free after Arm owns the doorbell")
	require.False(t, free(b), "and only the first")
	require.False(t, p.Disarm(), "the freer already withdrew the flag")

	c := hold()
	p.Arm()
	require.True(t, p.Disarm(), "nobody freed: the owner withdraws its own flag")
	require.False(t, free(c), "a withdrawn wait is not rung")

	// A failed free must not consume the wake-up.
	p.Arm()
	_, err = q.Free(c.Index, c.Gen)
	require.ErrorIs(t, err, ErrStale)
	require.True(t, p.Disarm())
}

// TestPoolRandomOps drives one pool with random operations and checks every
// answer against a model. PLEXUS_POOL_SEED replays a failure.
func TestPoolRandomOps(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PLEXUS_POOL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with PLEXUS_POOL_SEED=%d", seed)
		}
	})
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	ops := 200_000
	if testing.Short() {
		ops = 20_000
	}

	p, _ := newTestPool(t, smallClasses)
	classes := p.Classes()
	held := map[uint32]Slot{}
	var order []uint32 // held indices, for uniform choice
	lastGen := make([]uint32, p.NumSlots())
	freeIn := make([]int, len(classes))
	for i, c := range classes {
		freeIn[i] = c.Count
	}
	var freed [][2]uint32 // recently freed refs, for double frees

	mark := func(s Slot) uint64 { return uint64(s.Index)<<32 | uint64(s.Gen) }
	pick := func() (int, Slot) {
		k := r.IntN(len(order))
		return k, held[order[k]]
	}

	for op := range ops {
		switch x := r.IntN(100); {
		case x < 45:
			n := r.IntN(200)
			if r.IntN(8) == 0 {
				n = r.IntN(4200)
			}
			want := -1
			for ci, c := range classes {
				if c.Size >= n && freeIn[ci] > 0 {
					want = ci
					break
				}
			}
			s, err := p.Alloc(n)
			switch {
			case n > 4096:
				require.Equal(t, ErrTooLarge, err, "op %d", op)
				continue
			case want < 0:
				require.Equal(t, ErrNoSlot, err, "op %d", op)
				continue
			}
			require.NoError(t, err, "op %d", op)
			require.Equal(t, want, classIndexOf(p, s.Index), "op %d: Alloc(%d) must take the smallest class with a free slot", op, n)
			_, dup := held[s.Index]
			require.False(t, dup, "op %d: slot %d allocated twice", op, s.Index)
			require.Equal(t, lastGen[s.Index]+1, s.Gen, "op %d", op)
			require.Equal(t, uint32(1), s.Gen&1)
			require.Len(t, s.Buf, classes[want].Size)
			binary.LittleEndian.PutUint64(s.Buf, mark(s))
			held[s.Index] = s
			order = append(order, s.Index)
			lastGen[s.Index] = s.Gen
			freeIn[want]--
		case x < 80 && len(order) > 0:
			k, s := pick()
			require.Equal(t, mark(s), binary.LittleEndian.Uint64(s.Buf), "op %d: slot %d was overwritten while held", op, s.Index)
			wake, err := p.Free(s.Index, s.Gen)
			require.NoError(t, err, "op %d", op)
			require.False(t, wake)
			delete(held, s.Index)
			order[k] = order[len(order)-1]
			order = order[:len(order)-1]
			lastGen[s.Index] = s.Gen + 1
			freeIn[classIndexOf(p, s.Index)]++
			freed = append(freed, [2]uint32{s.Index, s.Gen})
			if len(freed) > 64 {
				freed = freed[1:]
			}
		case x < 85 && len(freed) > 0:
			ref := freed[r.IntN(len(freed))]
			_, err := p.Free(ref[0], ref[1])
			require.ErrorIs(t, err, ErrStale, "op %d: double free", op)
			require.ErrorIs(t, err, ErrProtocol)
			_, err = p.Resolve(ref[0], ref[1], 0, 0)
			require.ErrorIs(t, err, ErrStale, "op %d: resolve after free", op)
		case x < 90 && len(order) > 0:
			_, s := pick()
			g := s.Gen + []uint32{1, 2, 0xfffffffe, 0xffffffff}[r.IntN(4)]
			_, err := p.Free(s.Index, g)
			require.ErrorIs(t, err, ErrStale, "op %d: stale gen", op)
			_, err = p.Resolve(s.Index, g, 0, 0)
			require.ErrorIs(t, err, ErrStale, "op %d: stale gen", op)
		case x < 97 && len(order) > 0:
			_, s := pick()
			size := uint32(len(s.Buf))
			off := r.Uint32N(size + 1)
			n := r.Uint32N(size - off + 1)
			b, err := p.Resolve(s.Index, s.Gen, off, n)
			require.NoError(t, err, "op %d", op)
			require.Len(t, b, int(n))
			require.Equal(t, int(n), cap(b))
			if n > 0 {
				require.Same(t, &s.Buf[off], &b[0])
			}
			_, err = p.Resolve(s.Index, s.Gen, off, size-off+1+r.Uint32N(100))
			require.ErrorIs(t, err, ErrBadRef, "op %d", op)
		default:
			idx := uint32(p.NumSlots()) + r.Uint32N(1000)
			_, err := p.Free(idx, 1)
			require.ErrorIs(t, err, ErrBadRef)
			_, err = p.Resolve(idx, 1, 0, 0)
			require.ErrorIs(t, err, ErrBadRef)
		}
		if op%10_000 == 0 {
			require.NoError(t, p.CheckFreeLists(), "op %d", op)
			require.Equal(t, p.NumSlots()-len(held), p.FreeSlots(), "op %d", op)
		}
	}
	for _, idx := range order {
		s := held[idx]
		_, err := p.Free(s.Index, s.Gen)
		require.NoError(t, err)
	}
	require.Equal(t, p.NumSlots(), p.FreeSlots())
	require.NoError(t, p.CheckFreeLists())
}

// TestPoolConcurrentOwnerReceiver plays both processes: allocators on the
// owner's handle send references over a channel (standing in for the ring)
// to receivers that resolve, verify and free them on a second handle. The
// race detector checks that the atomics order payload writes before reads
// and reads before reuse.
func TestPoolConcurrentOwnerReceiver(t *testing.T) {
	const workers = 4
	total := int64(50_000)
	if testing.Short() {
		total = 5_000
	}
	classes := []Class{{64, 32}, {256, 16}, {4096, 8}, {16384, 2}}
	owner, region := newTestPool(t, classes)
	recv, err := AttachPool(region)
	require.NoError(t, err)

	pattern := make([]byte, 32<<10)
	for i := range pattern {
		pattern[i] = byte(i*131 + i>>8)
	}
	payload := func(seq uint64, n int) []byte {
		o := int(seq*977) % (len(pattern) - 16384)
		return pattern[o : o+n]
	}
	type ref struct {
		index, gen, off, n uint32
		seq                uint64
		crc                uint32
	}

	var (
		refs     = make(chan ref, 64)
		bell     = make(chan struct{}, 1)
		next     atomic.Int64
		inUse    = make([]atomic.Uint32, owner.NumSlots())
		wakes    atomic.Int64
		waits    atomic.Int64
		failOnce sync.Once
		failErr  error
		stop     = make(chan struct{})
	)
	fail := func(err error) {
		failOnce.Do(func() { failErr = err; close(stop) })
	}

	var producers, consumers sync.WaitGroup
	for w := range workers {
		producers.Add(1)
		go func() {
			defer producers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				seq := next.Add(1)
				if seq > total {
					return
				}
				n := r.IntN(300)
				if r.IntN(16) == 0 {
					n = r.IntN(16385)
				}
				s, err := owner.Alloc(n)
				for err == ErrNoSlot {
					// The segment layer's wait, with a Go channel as the
					// doorbell and a short timeout as a safety net.
					owner.Arm()
					if s, err = owner.Alloc(n); err != ErrNoSlot {
						owner.Disarm()
						break
					}
					waits.Add(1)
					select {
					case <-bell:
					case <-time.After(time.Millisecond):
					case <-stop:
						return
					}
					owner.Disarm()
					s, err = owner.Alloc(n)
				}
				if err != nil {
					fail(fmt.Errorf("alloc %d: %w", n, err))
					return
				}
				if !inUse[s.Index].CompareAndSwap(0, 1) {
					fail(fmt.Errorf("slot %d handed out while held", s.Index))
					return
				}
				off := r.IntN(len(s.Buf) - n + 1)
				want := payload(uint64(seq), n)
				copy(s.Buf[off:], want)
				select {
				case refs <- ref{s.Index, s.Gen, uint32(off), uint32(n), uint64(seq), crc32.ChecksumIEEE(want)}:
				case <-stop:
					return
				}
			}
		}()
	}
	for range workers {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for rf := range refs {
				b, err := recv.Resolve(rf.index, rf.gen, rf.off, rf.n)
				if err != nil {
					fail(fmt.Errorf("resolve %+v: %w", rf, err))
					return
				}
				if crc32.ChecksumIEEE(b) != rf.crc || !bytes.Equal(b, payload(rf.seq, int(rf.n))) {
					fail(fmt.Errorf("payload of seq %d (slot %d) corrupted", rf.seq, rf.index))
					return
				}
				// Cleared before Free: once freed the owner may hand the
				// slot out again at once.
				inUse[rf.index].Store(0)
				wake, err := recv.Free(rf.index, rf.gen)
				if err != nil {
					fail(fmt.Errorf("free %+v: %w", rf, err))
					return
				}
				if wake {
					wakes.Add(1)
					select {
					case bell <- struct{}{}:
					default:
					}
				}
			}
		}()
	}

	withTimeout(t, 3*time.Minute, func() error {
		producers.Wait()
		close(refs)
		consumers.Wait()
		return failErr
	})
	t.Logf("%d payloads; owner waited %d times, freers rang %d times", total, waits.Load(), wakes.Load())
	require.Equal(t, owner.NumSlots(), owner.FreeSlots())
	require.NoError(t, owner.CheckFreeLists())
	require.NoError(t, recv.CheckFreeLists())
}

// TestPoolHostileAttach overwrites every byte of the header, class entries
// and table of a valid pool with a few values in turn. Each attempt must
// either fail with a protocol error or attach to a layout whose slots all
// lie inside the region without overlapping.
func TestPoolHostileAttach(t *testing.T) {
	p0, region0 := newTestPool(t, smallClasses)
	end := int(binary.LittleEndian.Uint64(region0[poolOffTable:])) + p0.NumSlots()*poolTableStride
	r := rand.New(rand.NewPCG(1, 2))
	region := poolBytes(len(region0))
	attached := 0
	for off := range end {
		for _, v := range []byte{0, 0xff, region0[off] ^ 1, region0[off] + 1, region0[off] - 1, byte(r.Uint32())} {
			copy(region, region0)
			region[off] = v
			p, err := AttachPool(region)
			if err != nil {
				require.ErrorIs(t, err, ErrProtocol, "byte %d = %#x", off, v)
				continue
			}
			attached++
			checkPoolGeometry(t, p, region)
			withTimeout(t, time.Minute, func() error { return workPool(p, 64) })
		}
	}
	t.Logf("%d of %d mutations attached", attached, end*6)
}

// checkPoolGeometry verifies what AttachPool promises about any layout it
// accepts: sorted classes, contiguous slots, and slots inside the region
// that overlap neither each other nor the bookkeeping.
func checkPoolGeometry(t testing.TB, p *Pool, region []byte) {
	n := uint64(len(region))
	tableOff := uint64(uintptr(p.table) - uintptr(unsafe.Pointer(&region[0])))
	spans := [][2]uint64{{0, poolOffClasses + uint64(p.nclasses)*poolClassStride}, {tableOff, tableOff + uint64(p.nslots)*8}}
	first := uint32(0)
	for i := range p.nclasses {
		c := &p.classes[i]
		if i > 0 && c.size <= p.classes[i-1].size || c.first != first || c.size%64 != 0 || c.count == 0 {
			t.Fatalf("class %d accepted with bad geometry %+v", i, *c)
		}
		first += c.count
		spans = append(spans, [2]uint64{uint64(c.data), uint64(c.data) + uint64(c.count)*uint64(c.size)})
	}
	if first != p.nslots {
		t.Fatalf("classes hold %d slots, pool says %d", first, p.nslots)
	}
	for i, a := range spans {
		if a[1] > n || a[0] > a[1] {
			t.Fatalf("span %d %v outside %d bytes", i, a, n)
		}
		for _, b := range spans[:i] {
			if a[0] < b[1] && b[0] < a[1] {
				t.Fatalf("spans %v and %v overlap", a, b)
			}
		}
	}
}

// workPool runs a bounded mix of every operation and reports the first
// error outside the contract. It is what a hostile peer's victim does.
func workPool(p *Pool, rounds int) error {
	var held []Slot
	for i := range rounds {
		s, err := p.Alloc(i * 37 % (p.MaxSize() + 2))
		if !poolErrAllowed(err) {
			return fmt.Errorf("alloc: %w", err)
		}
		if err == nil {
			held = append(held, s)
			s.Buf[0], s.Buf[len(s.Buf)-1] = 1, 2
		}
		if i%3 == 2 && len(held) > 0 {
			s := held[0]
			held = held[1:]
			if _, err := p.Resolve(s.Index, s.Gen, 0, uint32(len(s.Buf))); !poolErrAllowed(err) {
				return fmt.Errorf("resolve: %w", err)
			}
			if _, err := p.Free(s.Index, s.Gen); !poolErrAllowed(err) {
				return fmt.Errorf("free: %w", err)
			}
		}
		if _, err := p.Resolve(uint32(i*7), uint32(i|1), uint32(i), uint32(i*3)); !poolErrAllowed(err) {
			return fmt.Errorf("resolve: %w", err)
		}
	}
	for _, s := range held {
		if _, err := p.Free(s.Index, s.Gen); !poolErrAllowed(err) {
			return fmt.Errorf("free: %w", err)
		}
	}
	if err := p.CheckFreeLists(); !poolErrAllowed(err) {
		return fmt.Errorf("check: %w", err)
	}
	_ = p.FreeSlots()
	return nil
}

// TestPoolHostileAfterAttach corrupts the run-time words (free-list heads,
// links, generations, the waiting flag) of an attached pool and works it:
// only protocol errors may come back, and every call must return.
func TestPoolHostileAfterAttach(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	classes := []Class{{64, 8}, {256, 4}}
	p0, region0 := newTestPool(t, classes)
	nslots := uint32(p0.NumSlots())
	region := poolBytes(len(region0))
	le := binary.LittleEndian
	table := le.Uint64(region0[poolOffTable:])
	errs := 0
	withTimeout(t, 2*time.Minute, func() error {
		for trial := range trials {
			copy(region, region0)
			p, err := AttachPool(region)
			if err != nil {
				return err
			}
			var held []Slot
			for range r.IntN(8) {
				if s, err := p.Alloc(r.IntN(300)); err == nil {
					held = append(held, s)
				}
			}
			small := func() uint32 { return r.Uint32N(nslots + 3) }
			for range 1 + r.IntN(3) {
				switch r.IntN(5) {
				case 0: // a head: random, or a plausible index with any tag
					v := r.Uint64()
					if r.IntN(2) == 0 {
						v = v&^0xffffffff | uint64(small())
					}
					le.PutUint64(region[poolOffClasses+r.IntN(len(classes))*poolClassStride:], v)
				case 1: // a link, often a plausible one (makes cycles)
					v := r.Uint32()
					if r.IntN(4) != 0 {
						v = small()
					}
					le.PutUint32(region[table+uint64(r.Uint32N(nslots))*8+4:], v)
				case 2: // a generation
					le.PutUint32(region[table+uint64(r.Uint32N(nslots))*8:], r.Uint32N(4))
				case 3:
					le.PutUint32(region[poolOffWaiting:], r.Uint32())
				case 4: // static header: must be ignored after attach
					region[r.IntN(int(table))] = byte(r.Uint32())
				}
			}
			for _, s := range held {
				if _, err := p.Free(s.Index, s.Gen); !poolErrAllowed(err) {
					return fmt.Errorf("trial %d: free: %w", trial, err)
				}
			}
			if err := workPool(p, 40); err != nil {
				return fmt.Errorf("trial %d: %w", trial, err)
			}
			if p.CheckFreeLists() != nil {
				errs++
			}
		}
		return nil
	})
	t.Logf("%d of %d corrupted pools were detected by CheckFreeLists", errs, trials)
}

// TestPoolHeadHammer has a "peer" rewrite a free-list head as fast as it
// can, with plausible values, while we allocate and free: every call must
// return (success or a protocol error), never spin for ever.
func TestPoolHeadHammer(t *testing.T) {
	p, region := newTestPool(t, []Class{{64, 8}})
	head := (*atomic.Uint64)(unsafe.Pointer(&region[poolOffClasses]))
	stop := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(started)
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for range 64 {
				head.Store(i<<32 | (i % 9)) // indices 0..8: empty, or a slot of the class
			}
			runtime.Gosched()
		}
	}()
	<-started
	var ok, failed int
	withTimeout(t, 2*time.Minute, func() error {
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			s, err := p.Alloc(1)
			if !poolErrAllowed(err) {
				return err
			}
			if err == nil {
				_, err = p.Free(s.Index, s.Gen)
				if !poolErrAllowed(err) {
					return err
				}
			}
			if err == nil {
				ok++
			} else {
				failed++
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()
	t.Logf("%d alloc/free pairs succeeded, %d calls reported corruption", ok, failed)
}

func TestPoolNoAllocs(t *testing.T) {
	p, _ := newTestPool(t, DefaultClasses())
	var sink []byte
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		s, err := p.Alloc(100)
		if err != nil {
			panic(err)
		}
		if _, err := p.Free(s.Index, s.Gen); err != nil {
			panic(err)
		}
	}), "Alloc+Free")
	s, err := p.Alloc(3000)
	require.NoError(t, err)
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		sink, _ = p.Resolve(s.Index, s.Gen, 10, 1000)
	}), "Resolve")
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		_, _ = p.Free(s.Index, s.Gen+2)
		_, _ = p.Resolve(s.Index, s.Gen+2, 0, 0)
		_, _ = p.Resolve(s.Index, s.Gen, 0, 1<<20)
		_, _ = p.Alloc(2 << 20)
	}), "error paths")
	_ = sink
}

func BenchmarkPoolAllocFree(b *testing.B) {
	p, _ := newTestPool(b, DefaultClasses())
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.Alloc(256)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Free(s.Index, s.Gen); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPoolAllocFreeParallel(b *testing.B) {
	p, _ := newTestPool(b, DefaultClasses())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := p.Alloc(256)
			if err != nil {
				panic(err) // 1024 small slots outnumber any GOMAXPROCS we run with
			}
			if _, err := p.Free(s.Index, s.Gen); err != nil {
				panic(err)
			}
		}
	})
}

func BenchmarkPoolResolve(b *testing.B) {
	p, _ := newTestPool(b, DefaultClasses())
	s, err := p.Alloc(4096)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink []byte
	for b.Loop() {
		sink, err = p.Resolve(s.Index, s.Gen, 64, 1024)
		if err != nil {
			b.Fatal(err)
		}
	}
	_ = sink
}
