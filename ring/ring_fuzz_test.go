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
	fzConsumerArm
	fzConsumerDisarm
	fzProducerArm
	fzProducerDisarm
	fzWriteTail        // u64: the peer scribbles over tail
	fzWriteHead        // u64: the peer scribbles over head
	fzWriteFlag        // sel, u32: the peer scribbles over parked (sel even) or waiting
	fzReattachProducer // a restarted producer attaches to the region
	fzReattachConsumer // a restarted consumer attaches to the region
	fzWriteStamp       // cell, u16: the peer scribbles over a cell's stamp
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
// fails writes no descriptor and moves no index. As long as what the two
// sides read is what they could have written themselves (the starting
// header is consistent, the head and the stamps were not scribbled over,
// and no producer resumed from a tail the peer wrote), the ring behaves
// exactly like a FIFO: counts, order, contents, published indices and
// wake-up reports all match a model. A tail scribbled over is only a
// wrong figure: the consumer does not read it, and the producer's next
// push stores its own again.
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
		fr := newFuzzRun(t, header, prog)
		for ; fr.pc < len(fr.prog); fr.op++ {
			copy(fr.before, fr.region)
			fuzzOpcodes[fr.next()%fzOps](fr)
			fr.checkPublished()
		}
	})
}

// fuzzOpcodes runs one opcode each: the table keeps every operation, with
// its own checks, in a function of its own.
var fuzzOpcodes = [fzOps]func(*fuzzRun){
	fzPush:             (*fuzzRun).push,
	fzPop:              (*fuzzRun).pop,
	fzPushOne:          (*fuzzRun).pushOne,
	fzPopOne:           (*fuzzRun).popOne,
	fzReady:            (*fuzzRun).ready,
	fzHasSpace:         (*fuzzRun).hasSpace,
	fzPending:          (*fuzzRun).pending,
	fzConsumerArm:      (*fuzzRun).consumerArm,
	fzConsumerDisarm:   (*fuzzRun).consumerDisarm,
	fzProducerArm:      (*fuzzRun).producerArm,
	fzProducerDisarm:   (*fuzzRun).producerDisarm,
	fzWriteTail:        (*fuzzRun).writeTail,
	fzWriteHead:        (*fuzzRun).writeHead,
	fzWriteFlag:        (*fuzzRun).writeFlag,
	fzReattachProducer: (*fuzzRun).reattachProducer,
	fzReattachConsumer: (*fuzzRun).reattachConsumer,
	fzWriteStamp:       (*fuzzRun).writeStamp,
}

// fuzzRun is one FuzzRing input being executed: the program, the ring under
// test and the model it must match.
type fuzzRun struct {
	t    *testing.T
	prog []byte
	pc   int // next program byte; may run past the end, which reads zeros
	op   int // index of the operation running, for messages

	region []byte
	before []byte // region as it was before the operation running
	p      *Producer
	c      *Consumer
	m      fifoModel
	// corrupt: the sides may see indices they could never have written,
	// so only the safety invariants are checked. It never clears, which
	// is why the model need not be kept exact once it is set.
	corrupt bool
	// tailWritten: the peer scribbled over the tail since the producer
	// last stored it.
	tailWritten bool
	src, dst    []Desc
}

func newFuzzRun(t *testing.T, header, prog []byte) *fuzzRun {
	fr := &fuzzRun{t: t, prog: prog}
	capacity := 1 << (fr.next() % 5)
	fr.region = newRegion(t, capacity)
	for i := HeaderSize; i < len(fr.region); i++ {
		fr.region[i] = byte(i * 31) // stale descriptors from an earlier life
	}
	copy(fr.region[:HeaderSize], header)
	var err error
	if fr.p, err = NewProducer(fr.region, capacity); err != nil {
		t.Fatalf("attach producer to a valid region: %v", err)
	}
	if fr.c, err = NewConsumer(fr.region, capacity); err != nil {
		t.Fatalf("attach consumer to a valid region: %v", err)
	}

	fr.m = fifoModel{
		capacity: capacity,
		tail:     getU64(fr.region, offTail),
		head:     getU64(fr.region, offHead),
		parked:   getU32(fr.region, offParked),
		waiting:  getU32(fr.region, offWaiting),
	}
	fr.corrupt = fr.m.tail-fr.m.head > uint64(capacity)
	if !fr.corrupt {
		// The region as an earlier life of the ring left it: the cells
		// from the head to the tail published, the rest holding the lap
		// before.
		for i := range uint64(capacity) {
			pos := fr.m.head + i
			if pos-fr.m.head >= fr.m.tail-fr.m.head {
				pos -= uint64(capacity)
			}
			fr.stampCell(pos, fr.p.s.stamp(pos)>>16)
		}
		for range fr.m.tail - fr.m.head {
			fr.m.queue = append(fr.m.queue, unknownSeq)
		}
	}
	fr.src = make([]Desc, capacity+2)
	fr.dst = make([]Desc, capacity+2)
	fr.before = make([]byte, len(fr.region))
	return fr
}

// stampCell writes v into the stamp half of the stamp word of position
// pos's cell, as a peer may.
func (fr *fuzzRun) stampCell(pos uint64, v uint32) {
	off := HeaderSize + int(pos&uint64(fr.m.capacity-1))*CellSize + stampOff + 2
	binary.LittleEndian.PutUint16(fr.region[off:], uint16(v))
}

func (fr *fuzzRun) next() byte {
	fr.pc++
	if fr.pc > len(fr.prog) {
		return 0
	}
	return fr.prog[fr.pc-1]
}

// nextN reads an n-byte little-endian operand.
func (fr *fuzzRun) nextN(n int) uint64 {
	var v uint64
	for i := range n {
		v |= uint64(fr.next()) << (8 * i)
	}
	return v
}

// count reads a batch-size operand: up to two past the capacity, so that
// batches larger than the ring are tried.
func (fr *fuzzRun) count() int { return int(fr.next()) % (fr.m.capacity + 3) }

// checkErr: every error is ErrCorrupt, and a consistent ring has none.
func (fr *fuzzRun) checkErr(err error) {
	fr.t.Helper()
	if err != nil && !errors.Is(err, ErrCorrupt) {
		fr.t.Fatalf("op %d: error %v is not ErrCorrupt", fr.op, err)
	}
	if err != nil && !fr.corrupt {
		fr.t.Fatalf("op %d: ErrCorrupt on a consistent ring: %v", fr.op, err)
	}
}

// unchangedOnErr: a failed operation must leave the region exactly as it
// was.
func (fr *fuzzRun) unchangedOnErr(err error) {
	fr.t.Helper()
	if err != nil && !bytes.Equal(fr.before, fr.region) {
		fr.t.Fatalf("op %d: failed with %v but modified the region", fr.op, err)
	}
}

// checkPopped compares what was popped with the head of the model's queue
// and removes it there.
func (fr *fuzzRun) checkPopped(got []Desc) {
	fr.t.Helper()
	if fr.corrupt {
		return
	}
	for i, seq := range fr.m.popped(len(got)) {
		if seq != unknownSeq && got[i] != descFor(seq) {
			fr.t.Fatalf("op %d: popped descriptor %d: seq %d damaged or out of order (want %d)",
				fr.op, i, got[i].Channel(), seq)
		}
	}
}

// wantResult: on a consistent ring, the result what of the operation is
// exp. It is a function because methods cannot have type parameters.
func wantResult[T int | bool](fr *fuzzRun, what string, got, exp T) {
	fr.t.Helper()
	if !fr.corrupt && got != exp {
		fr.t.Fatalf("op %d: %s = %v, want %v (capacity %d, %d queued)", fr.op, what, got, exp, fr.m.capacity, len(fr.m.queue))
	}
}

// checkPublished: on a consistent ring, the indices and flags in the region
// are the model's after every operation.
func (fr *fuzzRun) checkPublished() {
	fr.t.Helper()
	if fr.corrupt {
		return
	}
	if got := getU64(fr.region, offTail); got != fr.m.tail && !fr.tailWritten {
		fr.t.Fatalf("op %d: published tail %d, want %d", fr.op, got, fr.m.tail)
	}
	if got := getU64(fr.region, offHead); got != fr.m.head {
		fr.t.Fatalf("op %d: published head %d, want %d", fr.op, got, fr.m.head)
	}
	if got := getU32(fr.region, offParked); got != fr.m.parked {
		fr.t.Fatalf("op %d: parked flag %d, want %d", fr.op, got, fr.m.parked)
	}
	if got := getU32(fr.region, offWaiting); got != fr.m.waiting {
		fr.t.Fatalf("op %d: waiting flag %d, want %d", fr.op, got, fr.m.waiting)
	}
}

func (fr *fuzzRun) push() {
	k := fr.count()
	for i := range k {
		makeDesc(&fr.src[i], fr.m.seq+uint64(i))
	}
	n, wake, err := fr.p.Push(wire.Cells(fr.src[:k]))
	fr.checkErr(err)
	fr.unchangedOnErr(err)
	if n < 0 || n > k {
		fr.t.Fatalf("op %d: Push(%d) = %d", fr.op, k, n)
	}
	wantResult(fr, "Push", n, min(k, fr.m.space()))
	wantResult(fr, "Push wake", wake, fr.m.wakeConsumer(n))
	fr.m.pushed(n)
	fr.tailWritten = fr.tailWritten && n == 0
}

func (fr *fuzzRun) pushOne() {
	d := descFor(fr.m.seq)
	ok, wake, err := fr.p.PushOne((*Cell)(&d))
	fr.checkErr(err)
	fr.unchangedOnErr(err)
	wantResult(fr, "PushOne", ok, fr.m.space() > 0)
	wantResult(fr, "PushOne wake", wake, fr.m.wakeConsumer(b2i(ok)))
	fr.m.pushed(b2i(ok))
	fr.tailWritten = fr.tailWritten && !ok
}

func (fr *fuzzRun) pop() {
	k := fr.count()
	sentinel := descFor(0xDEAD)
	for i := range fr.dst {
		fr.dst[i] = sentinel
	}
	n, wake, err := fr.c.Pop(wire.Cells(fr.dst[:k]))
	fr.checkErr(err)
	fr.unchangedOnErr(err)
	if n < 0 || n > k {
		fr.t.Fatalf("op %d: Pop(%d) = %d", fr.op, k, n)
	}
	for i := n; i < len(fr.dst); i++ {
		if fr.dst[i] != sentinel {
			fr.t.Fatalf("op %d: Pop returned %d but wrote slot %d", fr.op, n, i)
		}
	}
	wantResult(fr, "Pop", n, min(k, len(fr.m.queue)))
	wantResult(fr, "Pop wake", wake, fr.m.wakeProducer(n))
	fr.checkPopped(fr.dst[:n])
}

func (fr *fuzzRun) popOne() {
	d := descFor(0xDEAD)
	ok, wake, err := fr.c.PopOne((*Cell)(&d))
	fr.checkErr(err)
	fr.unchangedOnErr(err)
	if !ok && d != descFor(0xDEAD) {
		fr.t.Fatalf("op %d: PopOne returned false but wrote the descriptor", fr.op)
	}
	wantResult(fr, "PopOne", ok, len(fr.m.queue) > 0)
	wantResult(fr, "PopOne wake", wake, fr.m.wakeProducer(b2i(ok)))
	if ok {
		fr.checkPopped([]Desc{d})
	}
}

func (fr *fuzzRun) ready() {
	ready, err := fr.c.Ready()
	fr.checkErr(err)
	wantResult(fr, "Ready", ready, len(fr.m.queue) > 0)
}

func (fr *fuzzRun) hasSpace() {
	space, err := fr.p.HasSpace()
	fr.checkErr(err)
	wantResult(fr, "HasSpace", space, fr.m.space() > 0)
}

func (fr *fuzzRun) pending() {
	n, err := fr.p.Pending()
	fr.checkErr(err)
	if n < 0 || n > fr.m.capacity {
		fr.t.Fatalf("op %d: Pending = %d, capacity %d", fr.op, n, fr.m.capacity)
	}
	wantResult(fr, "Pending", n, len(fr.m.queue))
}

func (fr *fuzzRun) consumerArm() {
	fr.c.Arm()
	fr.m.parked = 1
}

func (fr *fuzzRun) consumerDisarm() {
	wantResult(fr, "Consumer.Disarm", fr.c.Disarm(), fr.m.cancelPark())
}

func (fr *fuzzRun) producerArm() {
	fr.p.Arm()
	fr.m.waiting = 1
}

func (fr *fuzzRun) producerDisarm() {
	wantResult(fr, "Producer.Disarm", fr.p.Disarm(), fr.m.cancelWait())
}

// writeTail: the consumer never reads the tail, so garbage there is only
// a wrong figure until the producer's next push (see tailWritten).
func (fr *fuzzRun) writeTail() {
	putU64(fr.region, offTail, fr.nextN(8))
	fr.tailWritten = true
}

func (fr *fuzzRun) writeHead() {
	putU64(fr.region, offHead, fr.nextN(8))
	fr.corrupt = true
}

// writeFlag: flags carry no indices, so garbage in them must not disturb
// the FIFO; this is modelled, not corrupt.
func (fr *fuzzRun) writeFlag() {
	off, flag := offParked, &fr.m.parked
	if fr.next()%2 == 1 {
		off, flag = offWaiting, &fr.m.waiting
	}
	*flag = uint32(fr.nextN(4))
	putU32(fr.region, off, *flag)
}

// writeStamp: a stamp the peer rewrote can make any cell look published
// or not.
func (fr *fuzzRun) writeStamp() {
	pos := uint64(fr.next())
	fr.stampCell(pos, uint32(fr.nextN(2)))
	fr.corrupt = true
}

func (fr *fuzzRun) reattachProducer() {
	// A producer resumes from the tail in the region: one the peer wrote
	// puts it at positions the consumer is not at.
	fr.corrupt = fr.corrupt || fr.tailWritten
	var err error
	if fr.p, err = NewProducer(fr.region, fr.m.capacity); err != nil {
		fr.t.Fatalf("op %d: reattach producer: %v", fr.op, err)
	}
}

func (fr *fuzzRun) reattachConsumer() {
	var err error
	if fr.c, err = NewConsumer(fr.region, fr.m.capacity); err != nil {
		fr.t.Fatalf("op %d: reattach consumer: %v", fr.op, err)
	}
}
