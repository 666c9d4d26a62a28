package ring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/plexus-ipc/plexus/wire"
)

// Fuzz program opcodes: each is one byte, followed by its operand bytes (a
// program that ends early reads zeros).
const (
	fzPush = iota // k: Push of k%(capacity+3) descriptors
	fzPop         // k: Pop into k%(capacity+3) slots
	fzPushOne
	fzPopOne
	fzReady
	fzHasSpace
	fzPending
	fzPreparePark
	fzCancelPark
	fzPrepareWait
	fzCancelWait
	fzWriteTail        // u64: the peer scribbles over tail
	fzWriteHead        // u64: the peer scribbles over head
	fzWriteFlag        // sel, u32: the peer scribbles over parked (sel even) or waiting
	fzReattachProducer // a restarted producer attaches to the region
	fzReattachConsumer // a restarted consumer attaches to the region
	fzOps
)

// unknownSeq marks a queue entry the fuzzer's header put there: its content
// is whatever the region held, so only its presence is checked.
const unknownSeq = ^uint64(0)

// FuzzRing runs a program of ring operations from one goroutine against a
// region whose header starts as fuzz-chosen garbage, with a peer that may
// scribble over the shared words at any point.
//
// Invariants: nothing panics; every error is ErrCorrupt; an operation that
// fails writes no descriptor and moves no index. As long as the indices the
// two sides read are ones they could have written themselves (the starting
// header is consistent and no tail/head scribble happened), the ring behaves
// exactly like a FIFO: counts, order, contents, published indices and wake-up
// reports all match a model.
func FuzzRing(f *testing.F) {
	f.Add([]byte{}, []byte{3, fzPush, 5, fzPop, 3, fzPushOne, fzPopOne, fzPop, 9, fzReady})
	hdr := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint64(hdr[offTail:], ^uint64(0)-2)
	binary.LittleEndian.PutUint64(hdr[offHead:], ^uint64(0)-4)
	f.Add(hdr, []byte{2, fzReattachProducer, fzPush, 6, fzPop, 2, fzPush, 6, fzReattachConsumer, fzPop, 7})
	f.Add([]byte{}, []byte{2, fzPush, 3, fzWriteTail, 9, 0, 0, 0, 0, 0, 0, 0, fzPop, 4, fzPush, 1})

	f.Fuzz(func(t *testing.T, header, prog []byte) {
		// Bound the work per input; longer programs add nothing new.
		if len(prog) > 1<<12 {
			prog = prog[:1<<12]
		}
		pc := 0
		next := func() byte {
			if pc >= len(prog) {
				pc++
				return 0
			}
			pc++
			return prog[pc-1]
		}
		nextN := func(n int) uint64 {
			var v uint64
			for i := range n {
				v |= uint64(next()) << (8 * i)
			}
			return v
		}

		capacity := 1 << (next() % 5)
		region := newRegion(t, capacity)
		for i := HeaderSize; i < len(region); i++ {
			region[i] = byte(i * 31) // stale descriptors from an earlier life
		}
		copy(region[:HeaderSize], header)
		p, err := NewProducer(region, capacity)
		if err != nil {
			t.Fatalf("attach producer to a valid region: %v", err)
		}
		c, err := NewConsumer(region, capacity)
		if err != nil {
			t.Fatalf("attach consumer to a valid region: %v", err)
		}

		tail, head := getU64(region, offTail), getU64(region, offHead)
		parked, waiting := getU32(region, offParked), getU32(region, offWaiting)
		// corrupt: the sides may see indices they could never have
		// written, so only the safety invariants are checked.
		corrupt := tail-head > uint64(capacity)
		var queue []uint64
		if !corrupt {
			for range tail - head {
				queue = append(queue, unknownSeq)
			}
		}
		var seq uint64
		src := make([]Desc, capacity+2)
		dst := make([]Desc, capacity+2)
		before := make([]byte, len(region))

		checkErr := func(op int, err error) {
			t.Helper()
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("op %d: error %v is not ErrCorrupt", op, err)
			}
			if err != nil && !corrupt {
				t.Fatalf("op %d: ErrCorrupt on a consistent ring: %v", op, err)
			}
		}
		// A failed operation must leave the region exactly as it was.
		unchangedOnErr := func(op int, err error) {
			t.Helper()
			if err != nil && !bytes.Equal(before, region) {
				t.Fatalf("op %d: failed with %v but modified the region", op, err)
			}
		}
		checkPopped := func(op int, got []Desc) {
			t.Helper()
			if corrupt {
				return
			}
			for i := range got {
				if queue[i] != unknownSeq && got[i] != descFor(queue[i]) {
					t.Fatalf("op %d: popped descriptor %d: seq %d damaged or out of order (want %d)",
						op, i, got[i].Channel(), queue[i])
				}
			}
			queue = queue[len(got):]
			head += uint64(len(got))
		}
		pushed := func(n int) {
			for i := range n {
				queue = append(queue, seq+uint64(i))
			}
			seq += uint64(n)
			tail += uint64(n)
		}
		want := func(op int, what string, got, exp int) {
			t.Helper()
			if !corrupt && got != exp {
				t.Fatalf("op %d: %s = %d, want %d (capacity %d, %d queued)", op, what, got, exp, capacity, len(queue))
			}
		}
		wantBool := func(op int, what string, got, exp bool) {
			t.Helper()
			if !corrupt && got != exp {
				t.Fatalf("op %d: %s = %v, want %v (capacity %d, %d queued)", op, what, got, exp, capacity, len(queue))
			}
		}
		b2i := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}

		for op := 0; pc < len(prog); op++ {
			copy(before, region)
			switch next() % fzOps {
			case fzPush:
				k := int(next()) % (capacity + 3)
				for i := range k {
					makeDesc(&src[i], seq+uint64(i))
				}
				n, wake, err := p.Push(wire.Cells(src[:k]))
				checkErr(op, err)
				unchangedOnErr(op, err)
				if n < 0 || n > k {
					t.Fatalf("op %d: Push(%d) = %d", op, k, n)
				}
				want(op, "Push", n, min(k, capacity-len(queue)))
				wantBool(op, "Push wake", wake, n > 0 && parked == 1)
				if n > 0 && parked == 1 {
					parked = 0
				}
				pushed(n)
			case fzPushOne:
				d := descFor(seq)
				ok, wake, err := p.PushOne((*Cell)(&d))
				checkErr(op, err)
				unchangedOnErr(op, err)
				wantBool(op, "PushOne", ok, len(queue) < capacity)
				wantBool(op, "PushOne wake", wake, ok && parked == 1)
				if ok && parked == 1 {
					parked = 0
				}
				pushed(b2i(ok))
			case fzPop:
				k := int(next()) % (capacity + 3)
				sentinel := descFor(0xDEAD)
				for i := range dst {
					dst[i] = sentinel
				}
				n, wake, err := c.Pop(wire.Cells(dst[:k]))
				checkErr(op, err)
				unchangedOnErr(op, err)
				if n < 0 || n > k {
					t.Fatalf("op %d: Pop(%d) = %d", op, k, n)
				}
				for i := n; i < len(dst); i++ {
					if dst[i] != sentinel {
						t.Fatalf("op %d: Pop returned %d but wrote slot %d", op, n, i)
					}
				}
				want(op, "Pop", n, min(k, len(queue)))
				wantBool(op, "Pop wake", wake, n > 0 && waiting == 1)
				if n > 0 && waiting == 1 {
					waiting = 0
				}
				checkPopped(op, dst[:n])
			case fzPopOne:
				d := descFor(0xDEAD)
				ok, wake, err := c.PopOne((*Cell)(&d))
				checkErr(op, err)
				unchangedOnErr(op, err)
				if !ok && d != descFor(0xDEAD) {
					t.Fatalf("op %d: PopOne returned false but wrote the descriptor", op)
				}
				wantBool(op, "PopOne", ok, len(queue) > 0)
				wantBool(op, "PopOne wake", wake, ok && waiting == 1)
				if ok && waiting == 1 {
					waiting = 0
				}
				if ok {
					checkPopped(op, []Desc{d})
				}
			case fzReady:
				ready, err := c.Ready()
				checkErr(op, err)
				wantBool(op, "Ready", ready, len(queue) > 0)
			case fzHasSpace:
				space, err := p.HasSpace()
				checkErr(op, err)
				wantBool(op, "HasSpace", space, len(queue) < capacity)
			case fzPending:
				n, err := p.Pending()
				checkErr(op, err)
				if n < 0 || n > capacity {
					t.Fatalf("op %d: Pending = %d, capacity %d", op, n, capacity)
				}
				want(op, "Pending", n, len(queue))
			case fzPreparePark:
				c.PreparePark()
				parked = 1
			case fzCancelPark:
				wantBool(op, "CancelPark", c.CancelPark(), parked == 1)
				if parked == 1 {
					parked = 0
				}
			case fzPrepareWait:
				p.PrepareWait()
				waiting = 1
			case fzCancelWait:
				wantBool(op, "CancelWait", p.CancelWait(), waiting == 1)
				if waiting == 1 {
					waiting = 0
				}
			case fzWriteTail:
				putU64(region, offTail, nextN(8))
				corrupt = true
			case fzWriteHead:
				putU64(region, offHead, nextN(8))
				corrupt = true
			case fzWriteFlag:
				// Flags carry no indices: garbage in them must not
				// disturb the FIFO, so this is modelled, not corrupt.
				off, flag := offParked, &parked
				if next()%2 == 1 {
					off, flag = offWaiting, &waiting
				}
				*flag = uint32(nextN(4))
				putU32(region, off, *flag)
			case fzReattachProducer:
				if p, err = NewProducer(region, capacity); err != nil {
					t.Fatalf("op %d: reattach producer: %v", op, err)
				}
			case fzReattachConsumer:
				if c, err = NewConsumer(region, capacity); err != nil {
					t.Fatalf("op %d: reattach consumer: %v", op, err)
				}
			}
			if !corrupt {
				if got := getU64(region, offTail); got != tail {
					t.Fatalf("op %d: published tail %d, want %d", op, got, tail)
				}
				if got := getU64(region, offHead); got != head {
					t.Fatalf("op %d: published head %d, want %d", op, got, head)
				}
				if got := getU32(region, offParked); got != parked {
					t.Fatalf("op %d: parked flag %d, want %d", op, got, parked)
				}
				if got := getU32(region, offWaiting); got != waiting {
					t.Fatalf("op %d: waiting flag %d, want %d", op, got, waiting)
				}
			}
		}
	})
}
