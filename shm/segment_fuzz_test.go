package shm

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/plexus-ipc/plexus/ring"
	"github.com/plexus-ipc/plexus/wire"
)

func smallConfig() Config {
	return Config{
		RingCapacity:  64,
		HostClasses:   []Class{{Size: 256, Count: 8}, {Size: 4096, Count: 4}},
		PluginClasses: []Class{{Size: 128, Count: 4}},
		Wait:          200 * time.Millisecond,
	}
}

func alignedBytes(n int) []byte {
	b := make([]byte, n+4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)) % 4096
	return b[off : off+n : off+n]
}

// heapSegment lays out a small segment in heap memory: the same bytes a
// memfd would hold, without the syscalls, so the fuzzer runs fast.
func heapSegment(tb testing.TB) []byte {
	cfg := smallConfig().withDefaults()
	l, err := planLayout(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mem := alignedBytes(l.TotalSize)
	if err := initMapping(mem, &l, &cfg); err != nil {
		tb.Fatal(err)
	}
	return mem
}

func requireProtocolErr(t *testing.T, what string, err error) {
	if err != nil && !errors.Is(err, ErrProtocol) && !errors.Is(err, ring.ErrCorrupt) &&
		!errors.Is(err, ErrNoSlot) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%s: error outside the contract: %v", what, err)
	}
}

// FuzzSegment: a peer writes garbage into any bytes of the segment (header,
// rings, pool bookkeeping) and then this side attaches and works the link.
// The only acceptable outcomes are success or protocol errors; any panic,
// out-of-range access or unbounded loop fails the fuzzer.
func FuzzSegment(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0xff})                         // magic
	f.Add([]byte{0x10, 0x00, 0x01, 0x20, 0x00, 0x02}) // sizes
	f.Add([]byte{0x00, 0x10, 0x07, 0x40, 0x10, 0x80}) // ring indices after the header page
	mem0 := heapSegment(f)
	f.Fuzz(func(t *testing.T, pokes []byte) {
		mem := alignedBytes(len(mem0))
		copy(mem, mem0)
		// Each 3-byte group is (offset lo, offset hi, value); the offset is
		// scaled to cover the whole segment.
		pokeAll := func(p []byte) {
			for i := 0; i+3 <= len(p); i += 3 {
				off := int(binary.LittleEndian.Uint16(p[i:])) * len(mem) / 65536
				mem[off] = p[i+2]
			}
		}
		half := len(pokes) / 2 / 3 * 3
		pokeAll(pokes[:half])
		m, err := attachMapping(mem)
		if err != nil {
			requireProtocolErr(t, "attach", err)
			return
		}
		// The peer keeps writing after we attached.
		pokeAll(pokes[half:])
		l := m.layout
		c, err := ring.NewConsumer(m.rings[PluginToHost], l.RingCapacity[PluginToHost])
		if err != nil {
			t.Fatalf("consumer on a validated layout: %v", err)
		}
		var ds [16]wire.Desc
		for range 8 {
			n, _, err := c.Pop(wire.Cells(ds[:]))
			requireProtocolErr(t, "pop", err)
			for i := range n {
				p, err := resolvePayload(&ds[i], m.pools[PluginToHost])
				requireProtocolErr(t, "resolve", err)
				_ = len(p)
				_, err = m.pools[PluginToHost].Free(ds[i].Slot(), ds[i].Gen())
				requireProtocolErr(t, "free", err)
			}
		}
		prod, err := ring.NewProducer(m.rings[HostToPlugin], l.RingCapacity[HostToPlugin])
		if err != nil {
			t.Fatalf("producer on a validated layout: %v", err)
		}
		for range 4 {
			s, err := m.pools[HostToPlugin].Alloc(100)
			requireProtocolErr(t, "alloc", err)
			if err == nil {
				ds[0].Reset()
				ds[0].SetSlotRef(s.Index, s.Gen, 0, 100)
				_, _, err = prod.PushOne(ds[0].Cell())
				requireProtocolErr(t, "push", err)
			}
		}
	})
}

// FuzzDescriptor: any 64 bytes from the peer either resolve to a payload
// inside the descriptor or inside the peer's pool, or fail as a protocol
// violation.
func FuzzDescriptor(f *testing.F) {
	mem := heapSegment(f)
	m, err := attachMapping(mem)
	if err != nil {
		f.Fatal(err)
	}
	pool := m.pools[PluginToHost]
	held, err := pool.Alloc(64)
	if err != nil {
		f.Fatal(err)
	}
	var d wire.Desc
	d.SetSlotRef(held.Index, held.Gen, 8, 32)
	f.Add(d[:])
	d.SetSlotRef(held.Index, held.Gen, 0xffffffff, 2)
	f.Add(d[:])
	d.SetInline([]byte("tiny"))
	f.Add(d[:])
	d.Reset()
	f.Add(d[:])
	poolMem := mem[m.layout.PoolOffset[PluginToHost] : m.layout.PoolOffset[PluginToHost]+m.layout.PoolSize[PluginToHost]]
	lo := uintptr(unsafe.Pointer(&poolMem[0]))
	hi := lo + uintptr(len(poolMem))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d wire.Desc
		copy(d[:], raw)
		p, err := resolvePayload(&d, pool)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error outside the contract: %v", err)
			}
			return
		}
		if len(p) == 0 {
			return
		}
		start := uintptr(unsafe.Pointer(&p[0]))
		inDesc := start >= uintptr(unsafe.Pointer(&d[0])) && start+uintptr(len(p)) <= uintptr(unsafe.Pointer(&d[0]))+wire.DescSize
		inPool := start >= lo && start+uintptr(cap(p)) <= hi
		if !inDesc && !inPool {
			t.Fatalf("payload [%#x, +%d) lies outside both the descriptor and the pool", start, len(p))
		}
		if d.Flags()&wire.FlagSlot != 0 && (d.Slot() != held.Index || d.Gen() != held.Gen) {
			t.Fatalf("resolved a slot reference (%d, %d) that was never handed out", d.Slot(), d.Gen())
		}
	})
}
