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
		nslots := uint32(p.NumSlots())
		var held []Slot
		isHeld := func(index, gen uint32) int {
			for k, s := range held {
				if s.Index == index && s.Gen == gen {
					return k
				}
			}
			return -1
		}
		poked := false
		expect := func(what string, err error, ok bool, want error) {
			t.Helper()
			switch {
			case poked:
				if !poolErrAllowed(err) {
					t.Fatalf("%s: error outside the contract: %v", what, err)
				}
			case ok && err != nil:
				t.Fatalf("%s: %v", what, err)
			case !ok && !errors.Is(err, want):
				t.Fatalf("%s: got %v, want %v", what, err, want)
			}
		}
		prog := &fuzzProgram{b: data}
		for step := 0; len(prog.b) > 0 && step < 4096; step++ {
			switch prog.u8() % 7 {
			case 0:
				n := int(prog.u16()) % (p.MaxSize() + 64)
				want, wantClass := error(ErrTooLarge), -1
				if n <= p.MaxSize() {
					want = ErrNoSlot
					for ci, c := range classes {
						if c.Size >= n && countHeld(p, held, c.Size) < c.Count {
							want, wantClass = nil, ci
							break
						}
					}
				}
				s, err := p.Alloc(n)
				expect("alloc", err, want == nil, want)
				if err == nil {
					if !poked && (isHeld(s.Index, s.Gen) >= 0 || len(s.Buf) != classes[wantClass].Size || s.Gen&1 == 0) {
						t.Fatalf("alloc(%d) returned bad slot %d gen %d len %d", n, s.Index, s.Gen, len(s.Buf))
					}
					s.Buf[0], s.Buf[len(s.Buf)-1] = 0xaa, 0x55
					held = append(held, s)
				}
			case 1:
				if len(held) == 0 {
					continue
				}
				k := int(prog.u8()) % len(held)
				s := held[k]
				held = append(held[:k], held[k+1:]...)
				_, err := p.Free(s.Index, s.Gen)
				expect("free held", err, true, nil)
			case 2:
				index, gen := uint32(prog.u8())%(nslots+4), uint32(prog.u8())
				k := isHeld(index, gen)
				want := error(ErrStale)
				if index >= nslots {
					want = ErrBadRef
				}
				_, err := p.Free(index, gen)
				expect("free arbitrary", err, k >= 0, want)
				if k >= 0 && err == nil {
					held = append(held[:k], held[k+1:]...)
				}
			case 3, 4:
				var index, gen uint32
				if len(held) > 0 && prog.u8()&1 == 0 {
					s := held[int(prog.u8())%len(held)]
					index, gen = s.Index, s.Gen
				} else {
					index, gen = uint32(prog.u8())%(nslots+4), uint32(prog.u8())
				}
				off, n := uint32(prog.u16()), uint32(prog.u16())
				if prog.u8()&1 == 1 { // sometimes reach for u32 overflow
					off, n = off<<16|0xffff, n<<16
				}
				want, ok := error(ErrStale), false
				switch {
				case index >= nslots:
					want = ErrBadRef
				case isHeld(index, gen) < 0:
				case uint64(off)+uint64(n) > uint64(p.classOf(index).size):
					want = ErrBadRef
				default:
					ok = true
				}
				b, err := p.Resolve(index, gen, off, n)
				expect("resolve", err, ok, want)
				if err == nil && (len(b) != int(n) || cap(b) != int(n)) {
					t.Fatalf("resolve returned %d bytes (cap %d), want %d", len(b), cap(b), n)
				}
				for i := range b {
					b[i]++
				}
			case 5:
				// High bit: aim at the bookkeeping in the first 512 bytes,
				// where a poke does damage; otherwise anywhere.
				at := prog.u16()
				off := int(at&0x1ff) % len(region)
				if at&0x8000 == 0 {
					off = int(at) * len(region) / 0x8000
				}
				region[off] = prog.u8()
				poked = true
			case 6:
				err := p.CheckFreeLists()
				expect("check", err, true, nil)
				if !poked && p.FreeSlots() != int(nslots)-len(held) {
					t.Fatalf("FreeSlots %d with %d of %d held", p.FreeSlots(), len(held), nslots)
				}
			}
		}
		for _, s := range held {
			_, err := p.Free(s.Index, s.Gen)
			expect("final free", err, true, nil)
		}
		err = p.CheckFreeLists()
		expect("final check", err, true, nil)
		if !poked && p.FreeSlots() != int(nslots) {
			t.Fatalf("FreeSlots %d of %d after freeing everything", p.FreeSlots(), nslots)
		}
	})
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
