package shm

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzPoolSize is the fixed region FuzzAttachPool's input is laid over;
// 64 KiB leaves room for tables and data of many small classes.
const fuzzPoolSize = 64 << 10

// validPoolImage is the meaningful prefix (header, class entries, table)
// of a valid pool over fuzzPoolSize bytes; the rest of the region is zero,
// as the data of a fresh pool may be.
func validPoolImage(tb testing.TB, classes []Class) []byte {
	region := poolBytes(fuzzPoolSize)
	if err := InitPool(region, classes); err != nil {
		tb.Fatal(err)
	}
	p, err := AttachPool(region)
	if err != nil {
		tb.Fatal(err)
	}
	end := binary.LittleEndian.Uint64(region[poolOffTable:]) + uint64(p.NumSlots())*poolTableStride
	return region[:end]
}

// FuzzAttachPool: the peer wrote the whole pool region. AttachPool must
// reject it with a protocol error or accept a self-consistent layout, and
// then a bounded run of every operation must neither panic nor hang.
func FuzzAttachPool(f *testing.F) {
	f.Add([]byte{})
	f.Add(validPoolImage(f, []Class{{64, 16}, {256, 8}}))
	f.Add(validPoolImage(f, []Class{{64, 1}}))
	f.Add(validPoolImage(f, []Class{{64, 4}, {128, 4}, {192, 4}, {4096, 2}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		region := poolBytes(fuzzPoolSize)
		copy(region, data)
		p, err := AttachPool(region)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("attach failed outside the contract: %v", err)
			}
			return
		}
		checkPoolGeometry(t, p, region)
		if err := workPool(p, 64); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzProgram hands out operands from the fuzz input, zeros once it runs
// dry, so that every input is a complete program.
type fuzzProgram struct{ b []byte }

func (p *fuzzProgram) u8() byte {
	if len(p.b) == 0 {
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

func (p *fuzzProgram) u16() uint16 { return uint16(p.u8()) | uint16(p.u8())<<8 }

// FuzzPoolOps runs a program of allocations, frees, resolves and pokes of
// arbitrary bytes against a small valid pool. Until the first poke the pool
// must behave exactly like the model; afterwards only the documented errors
// may come back, and nothing may panic or hang.
func FuzzPoolOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 10, 0, 0, 200, 0, 1, 0, 6})                      // alloc, alloc, free, check
	f.Add([]byte{0, 1, 0, 5, 0x80, 0x80, 0x01, 0, 1, 0, 6, 2, 0, 1}) // poke the first head
	f.Add([]byte{0, 0, 1, 3, 0, 1, 10, 0, 20, 0, 4, 0, 0, 5, 0, 1, 0, 1, 0, 6})

	classes := []Class{{64, 8}, {256, 4}}
	size, err := PoolRegionSize(classes)
	if err != nil {
		f.Fatal(err)
	}
	fresh := poolBytes(size)
	if err := InitPool(fresh, classes); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		region := poolBytes(size)
		copy(region, fresh)
		p, err := AttachPool(region)
		if err != nil {
			t.Fatal(err)
		}
		m := &poolModel{t: t, p: p, region: region, classes: classes, nslots: uint32(p.NumSlots())}
		prog := &fuzzProgram{b: data}
		for step := 0; len(prog.b) > 0 && step < 4096; step++ {
			switch prog.u8() % 7 {
			case 0:
				m.alloc(prog)
			case 1:
				m.freeHeld(prog)
			case 2:
				m.freeArbitrary(prog)
			case 3, 4:
				m.resolve(prog)
			case 5:
				m.poke(prog)
			case 6:
				m.check()
			}
		}
		m.finish()
	})
}

// poolModel is FuzzPoolOps's model of the pool under test: the slots the
// program holds, and whether it has poked the region, after which only the
// documented errors are checked. Each op method reads its operands from the
// program and checks the pool's answer against the model.
type poolModel struct {
	t       *testing.T
	p       *Pool
	region  []byte
	classes []Class
	nslots  uint32
	held    []Slot
	poked   bool
}

// isHeld is the position of slot (index, gen) in held, or -1.
func (m *poolModel) isHeld(index, gen uint32) int {
	for k, s := range m.held {
		if s.Index == index && s.Gen == gen {
			return k
		}
	}
	return -1
}

// expect checks the pool's answer to one operation: success if ok, else an
// error that is want; after a poke, any documented error.
func (m *poolModel) expect(what string, err error, ok bool, want error) {
	m.t.Helper()
	switch {
	case m.poked:
		if !poolErrAllowed(err) {
			m.t.Fatalf("%s: error outside the contract: %v", what, err)
		}
	case ok && err != nil:
		m.t.Fatalf("%s: %v", what, err)
	case !ok && !errors.Is(err, want):
		m.t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// alloc: op 0, u16 size. The model predicts the class (or ErrNoSlot or
// ErrTooLarge) from what it holds.
func (m *poolModel) alloc(prog *fuzzProgram) {
	p := m.p
	n := int(prog.u16()) % (p.MaxSize() + 64)
	want, wantClass := error(ErrTooLarge), -1
	if n <= p.MaxSize() {
		want = ErrNoSlot
		for ci, c := range m.classes {
			if c.Size >= n && countHeld(p, m.held, c.Size) < c.Count {
				want, wantClass = nil, ci
				break
			}
		}
	}
	s, err := p.Alloc(n)
	m.expect("alloc", err, want == nil, want)
	if err == nil {
		if !m.poked && (m.isHeld(s.Index, s.Gen) >= 0 || len(s.Buf) != m.classes[wantClass].Size || s.Gen&1 == 0) {
			m.t.Fatalf("alloc(%d) returned bad slot %d gen %d len %d", n, s.Index, s.Gen, len(s.Buf))
		}
		s.Buf[0], s.Buf[len(s.Buf)-1] = 0xaa, 0x55
		m.held = append(m.held, s)
	}
}

// freeHeld: op 1, u8 choice of a held slot, which must free.
func (m *poolModel) freeHeld(prog *fuzzProgram) {
	if len(m.held) == 0 {
		return
	}
	k := int(prog.u8()) % len(m.held)
	s := m.held[k]
	m.held = append(m.held[:k], m.held[k+1:]...)
	_, err := m.p.Free(s.Index, s.Gen)
	m.expect("free held", err, true, nil)
}

// freeArbitrary: op 2, u8 index, u8 generation; it frees only a held slot.
func (m *poolModel) freeArbitrary(prog *fuzzProgram) {
	index, gen := uint32(prog.u8())%(m.nslots+4), uint32(prog.u8())
	k := m.isHeld(index, gen)
	want := error(ErrStale)
	if index >= m.nslots {
		want = ErrBadRef
	}
	_, err := m.p.Free(index, gen)
	m.expect("free arbitrary", err, k >= 0, want)
	if k >= 0 && err == nil {
		m.held = append(m.held[:k], m.held[k+1:]...)
	}
}

// resolve: ops 3 and 4, a held slot or an arbitrary reference, u16 offset
// and length (sometimes shifted to reach for u32 overflow).
func (m *poolModel) resolve(prog *fuzzProgram) {
	var index, gen uint32
	if len(m.held) > 0 && prog.u8()&1 == 0 {
		s := m.held[int(prog.u8())%len(m.held)]
		index, gen = s.Index, s.Gen
	} else {
		index, gen = uint32(prog.u8())%(m.nslots+4), uint32(prog.u8())
	}
	off, n := uint32(prog.u16()), uint32(prog.u16())
	if prog.u8()&1 == 1 { // sometimes reach for u32 overflow
		off, n = off<<16|0xffff, n<<16
	}
	want, ok := error(ErrStale), false
	switch {
	case index >= m.nslots:
		want = ErrBadRef
	case m.isHeld(index, gen) < 0:
	case uint64(off)+uint64(n) > uint64(m.p.classOf(index).size):
		want = ErrBadRef
	default:
		ok = true
	}
	b, err := m.p.Resolve(index, gen, off, n)
	m.expect("resolve", err, ok, want)
	if err == nil && (len(b) != int(n) || cap(b) != int(n)) {
		m.t.Fatalf("resolve returned %d bytes (cap %d), want %d", len(b), cap(b), n)
	}
	for i := range b {
		b[i]++
	}
}

// poke: op 5, u16 place, u8 value written into the region.
func (m *poolModel) poke(prog *fuzzProgram) {
	// High bit: aim at the bookkeeping in the first 512 bytes,
	// where a poke does damage; otherwise anywhere.
	at := prog.u16()
	off := int(at&0x1ff) % len(m.region)
	if at&0x8000 == 0 {
		off = int(at) * len(m.region) / 0x8000
	}
	m.region[off] = prog.u8()
	m.poked = true
}

// check: op 6, the free lists and the count of free slots.
func (m *poolModel) check() {
	err := m.p.CheckFreeLists()
	m.expect("check", err, true, nil)
	if !m.poked && m.p.FreeSlots() != int(m.nslots)-len(m.held) {
		m.t.Fatalf("FreeSlots %d with %d of %d held", m.p.FreeSlots(), len(m.held), m.nslots)
	}
}

// finish frees everything still held and checks that the pool is whole.
func (m *poolModel) finish() {
	for _, s := range m.held {
		_, err := m.p.Free(s.Index, s.Gen)
		m.expect("final free", err, true, nil)
	}
	err := m.p.CheckFreeLists()
	m.expect("final check", err, true, nil)
	if !m.poked && m.p.FreeSlots() != int(m.nslots) {
		m.t.Fatalf("FreeSlots %d of %d after freeing everything", m.p.FreeSlots(), m.nslots)
	}
}

// countHeld counts held slots of the class with the given size: the
// model's view of how full that class is.
func countHeld(p *Pool, held []Slot, size int) int {
	n := 0
	for _, s := range held {
		if int(p.classOf(s.Index).size) == size {
			n++
		}
	}
	return n
}
