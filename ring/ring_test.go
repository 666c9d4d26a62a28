package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
)

// alignedBuf returns n bytes starting on a cache-line boundary. The heap only
// promises 8-byte alignment, and checkRegion rightly insists on 64.
func alignedBuf(n int) []byte {
	buf := make([]byte, n+cacheLineSize)
	off := int((cacheLineSize - uintptr(unsafe.Pointer(&buf[0]))%cacheLineSize) % cacheLineSize)
	return buf[off : off+n : off+n]
}

// newRegion returns an initialised, aligned ring region.
func newRegion(tb testing.TB, capacity int) []byte {
	tb.Helper()
	region := alignedBuf(RegionSize(capacity))
	require.NoError(tb, Init(region, capacity))
	return region
}

func newRing(tb testing.TB, capacity int) (*Producer, *Consumer, []byte) {
	tb.Helper()
	region := newRegion(tb, capacity)
	p, err := NewProducer(region, capacity)
	require.NoError(tb, err)
	c, err := NewConsumer(region, capacity)
	require.NoError(tb, err)
	return p, c, region
}

// Raw header access, as a hostile (or merely inspecting) peer sees it. Only
// used while no other goroutine touches the ring.
func getU64(region []byte, off int) uint64 { return binary.LittleEndian.Uint64(region[off:]) }
func putU64(region []byte, off int, v uint64) {
	binary.LittleEndian.PutUint64(region[off:], v)
}
func getU32(region []byte, off int) uint32 { return binary.LittleEndian.Uint32(region[off:]) }
func putU32(region []byte, off int, v uint32) {
	binary.LittleEndian.PutUint32(region[off:], v)
}

func splitmix(x *uint64) uint64 {
	*x += 0x9E3779B97F4A7C15
	z := *x
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// descSum is FNV-1a over every byte except Aux, which carries it: a consumer
// can then detect a torn or misplaced descriptor without knowing the sender's
// generator.
// offAux is where wire puts Aux (SPEC.md "Descriptor").
const offAux = 24

func descSum(d *Desc) uint64 {
	h := uint64(14695981039346656037)
	for i, b := range d {
		if i >= offAux && i < offAux+8 {
			continue
		}
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}

// makeDesc fills every byte of d from seq: Channel is the sequence number,
// Aux the checksum of the rest.
// Desc is what the tests put in cells: package wire's descriptor, whose
// accessors give the bytes names. The ring itself never looks into a cell.
type Desc = wire.Desc

func makeDesc(d *Desc, seq uint64) {
	x := seq
	for i := 8; i < CellSize; i += 8 {
		binary.LittleEndian.PutUint64(d[i:], splitmix(&x))
	}
	d[stampOff+2], d[stampOff+3] = 0, 0 // the reserved field, where the ring stamps
	d.SetChannel(seq)
	d.SetAux(descSum(d))
}

func descFor(seq uint64) Desc {
	var d Desc
	makeDesc(&d, seq)
	return d
}

// checkDesc is what a consumer that only knows the expected sequence number
// can verify; it allocates only on failure.
func checkDesc(d *Desc, seq uint64) error {
	if got := d.Channel(); got != seq {
		return fmt.Errorf("descriptor out of order: got seq %d, want %d", got, seq)
	}
	if got, want := d.Aux(), descSum(d); got != want {
		return fmt.Errorf("descriptor %d damaged: checksum %#x, want %#x", seq, got, want)
	}
	return nil
}

func TestArgumentValidation(t *testing.T) {
	attachAll := func(region []byte, capacity int) []error {
		_, perr := NewProducer(region, capacity)
		_, cerr := NewConsumer(region, capacity)
		return []error{Init(region, capacity), perr, cerr}
	}
	big := alignedBuf(RegionSize(64) + 64)

	for _, capacity := range []int{0, -1, -8, 3, 6, 12, 100, MaxCapacity + 1, MaxCapacity * 2} {
		for i, err := range attachAll(big, capacity) {
			require.Error(t, err, "capacity %d, call %d", capacity, i)
		}
	}

	for _, capacity := range []int{1, 8, 64} {
		short := big[:RegionSize(capacity)-1]
		for i, err := range attachAll(short, capacity) {
			require.Error(t, err, "region one byte short, capacity %d, call %d", capacity, i)
		}
	}
	for i, err := range attachAll(nil, 8) {
		require.Error(t, err, "nil region, call %d", i)
	}

	// 8-byte alignment would satisfy the atomics, but not the cache-line
	// separation of the header words.
	for _, off := range []int{1, 8, 32} {
		for i, err := range attachAll(big[off:], 8) {
			require.Error(t, err, "region offset %d, call %d", off, i)
		}
	}

	for _, capacity := range []int{1, 2, 8, 64} {
		for i, err := range attachAll(big[:RegionSize(capacity)], capacity) {
			require.NoError(t, err, "capacity %d, call %d", capacity, i)
		}
	}
	require.Equal(t, HeaderSize+8*CellSize, RegionSize(8))
}

func TestInitClearsHeaderOnly(t *testing.T) {
	region := alignedBuf(RegionSize(4))
	for i := range region {
		region[i] = 0xA5
	}
	require.NoError(t, Init(region, 4))
	for i := range HeaderSize {
		require.Zero(t, region[i], "header byte %d", i)
	}
	for i := HeaderSize; i < len(region); i++ {
		require.Equal(t, byte(0xA5), region[i], "descriptor byte %d must not be touched", i)
	}
}

func TestEmptyAndFull(t *testing.T) {
	for _, capacity := range []int{1, 2, 8, 64} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) {
			p, c, region := newRing(t, capacity)
			require.Equal(t, capacity, p.Capacity())
			require.Equal(t, capacity, c.Capacity())

			var d Desc
			ok, wake, err := c.PopOne((*Cell)(&d))
			require.NoError(t, err)
			require.False(t, ok)
			require.False(t, wake)
			ready, err := c.Ready()
			require.NoError(t, err)
			require.False(t, ready)
			n, _, err := c.Pop(wire.Cells(make([]Desc, 4)))
			require.NoError(t, err)
			require.Zero(t, n)

			for i := range capacity {
				d := descFor(uint64(i))
				ok, wake, err := p.PushOne((*Cell)(&d))
				require.NoError(t, err)
				require.True(t, ok, "push %d of %d", i, capacity)
				require.False(t, wake)
			}
			d = descFor(999)
			ok, _, err = p.PushOne((*Cell)(&d))
			require.NoError(t, err)
			require.False(t, ok, "a full ring accepts nothing more")
			extra := []Desc{descFor(1000), descFor(1001), descFor(1002)}
			n, _, err = p.Push(wire.Cells(extra))
			require.NoError(t, err)
			require.Zero(t, n)
			space, err := p.HasSpace()
			require.NoError(t, err)
			require.False(t, space)
			pending, err := p.Pending()
			require.NoError(t, err)
			require.Equal(t, capacity, pending)
			require.Equal(t, uint64(capacity), getU64(region, offTail))

			for i := range capacity {
				ok, _, err := c.PopOne((*Cell)(&d))
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, descFor(uint64(i)), d)
			}
			ok, _, err = c.PopOne((*Cell)(&d))
			require.NoError(t, err)
			require.False(t, ok)
			require.Equal(t, uint64(capacity), getU64(region, offHead))
			pending, err = p.Pending()
			require.NoError(t, err)
			require.Zero(t, pending)
		})
	}
}

func TestEmptySlices(t *testing.T) {
	p, c, region := newRing(t, 4)
	n, wake, err := p.Push(nil)
	require.NoError(t, err)
	require.Zero(t, n)
	require.False(t, wake)
	n, wake, err = c.Pop(nil)
	require.NoError(t, err)
	require.Zero(t, n)
	require.False(t, wake)
	require.Zero(t, getU64(region, offTail))
	require.Zero(t, getU64(region, offHead))
}

func TestWrapAround(t *testing.T) {
	const capacity = 8
	p, c, region := newRing(t, capacity)
	src := make([]Desc, capacity+3)
	dst := make([]Desc, capacity+5)
	var sent, recv uint64
	for round := range 400 {
		k := round%(capacity+3) + 1
		for i := range k {
			makeDesc(&src[i], sent+uint64(i))
		}
		n, _, err := p.Push(wire.Cells(src[:k]))
		require.NoError(t, err)
		require.Equal(t, min(k, capacity-int(sent-recv)), n)
		sent += uint64(n)

		m := (round*7)%(capacity+5) + 1
		got, _, err := c.Pop(wire.Cells(dst[:m]))
		require.NoError(t, err)
		require.Equal(t, min(m, int(sent-recv)), got)
		for i := range got {
			require.Equal(t, descFor(recv), dst[i], "round %d", round)
			recv++
		}
		require.Equal(t, sent, getU64(region, offTail))
		require.Equal(t, recv, getU64(region, offHead))
	}
	require.Greater(t, sent, uint64(100*capacity), "the test must lap the ring many times")
}

// Free-running 64-bit indices must wrap at 2^64 without anyone noticing.
func TestIndexWrapsAt64Bits(t *testing.T) {
	const capacity = 4
	region := newRegion(t, capacity)
	start := ^uint64(0) - 5
	putU64(region, offTail, start)
	putU64(region, offHead, start)
	p, err := NewProducer(region, capacity)
	require.NoError(t, err)
	c, err := NewConsumer(region, capacity)
	require.NoError(t, err)
	var d Desc
	for i := range uint64(20) {
		d = descFor(i)
		ok, _, err := p.PushOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
		ok, _, err = c.PopOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, descFor(i), d)
	}
	require.Equal(t, start+20, getU64(region, offTail))
}

func TestBatchPartial(t *testing.T) {
	const capacity = 16
	p, c, _ := newRing(t, capacity)
	src := make([]Desc, 64)
	for i := range src {
		makeDesc(&src[i], uint64(i))
	}
	dst := make([]Desc, 64)
	var sent, recv int
	push := func(k, want int, msg string) {
		t.Helper()
		n, _, err := p.Push(wire.Cells(src[sent : sent+k]))
		require.NoError(t, err, msg)
		require.Equal(t, want, n, msg)
		sent += n
	}
	pop := func(k, want int, msg string) {
		t.Helper()
		n, _, err := c.Pop(wire.Cells(dst[:k]))
		require.NoError(t, err, msg)
		require.Equal(t, want, n, msg)
		for i := range n {
			require.Equal(t, src[recv], dst[i], msg)
			recv++
		}
	}

	push(5, 5, "empty ring")
	push(20, capacity-5, "a batch larger than the free space writes exactly the free space")
	push(1, 0, "full")
	pop(3, 3, "partial pop")
	push(10, 3, "the producer's cached head says full; it must look again")
	pop(5, 5, "pop within what the consumer already knows")
	pop(40, 11, "a larger slice gets everything published, beyond the consumer's cached tail")
	pop(4, 0, "empty")

	push(40, capacity, "all positions are free again")
	pop(2, 2, "")
	push(1, 1, "")
	// The consumer cached the tail before the last push.
	pop(64, capacity-1, "pop returns what is available, not what was cached")
	push(3, 3, "the cached head shows 1 free, the ring has 16")
	pop(3, 3, "")
	// The producer's cache shows 13 free; the consumer emptied the ring.
	push(16, 16, "push sees free space beyond its cached head")
	pop(64, 16, "")
}

// TestBatchOrder checks the exact sequence delivered by the partial batches
// above in a simpler setting: whatever the batch sizes, the consumer sees
// 0, 1, 2, ... with every byte intact.
func TestBatchOrder(t *testing.T) {
	const capacity = 16
	p, c, _ := newRing(t, capacity)
	src := make([]Desc, 64)
	dst := make([]Desc, 64)
	var sent, recv uint64
	pushes := []int{5, 20, 1, 10, 0, 40, 3}
	pops := []int{3, 5, 11, 64, 2, 1, 64}
	for i := range pushes {
		for j := range pushes[i] {
			makeDesc(&src[j], sent+uint64(j))
		}
		n, _, err := p.Push(wire.Cells(src[:pushes[i]]))
		require.NoError(t, err)
		require.Equal(t, min(pushes[i], capacity-int(sent-recv)), n, "push %d", i)
		sent += uint64(n)
		m, _, err := c.Pop(wire.Cells(dst[:pops[i]]))
		require.NoError(t, err)
		require.Equal(t, min(pops[i], int(sent-recv)), m, "pop %d", i)
		for j := range m {
			require.Equal(t, descFor(recv), dst[j])
			recv++
		}
	}
}

// A producer or consumer re-attaching to a ring that holds unconsumed
// descriptors (a restarted endpoint) resumes from the published indices and
// must not overwrite what the consumer has not yet taken.
func TestReattachResumes(t *testing.T) {
	const capacity = 8
	p, c, region := newRing(t, capacity)
	var d Desc
	for i := range uint64(5) {
		d = descFor(i)
		ok, _, err := p.PushOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, _, err := c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)

	p, err = NewProducer(region, capacity)
	require.NoError(t, err)
	src := make([]Desc, capacity)
	for i := range src {
		makeDesc(&src[i], 5+uint64(i))
	}
	n, _, err := p.Push(wire.Cells(src))
	require.NoError(t, err)
	require.Equal(t, capacity-4, n, "4 descriptors are still unconsumed")

	c, err = NewConsumer(region, capacity)
	require.NoError(t, err)
	dst := make([]Desc, 2*capacity)
	n, _, err = c.Pop(wire.Cells(dst))
	require.NoError(t, err)
	require.Equal(t, capacity, n)
	for i := range n {
		require.Equal(t, descFor(1+uint64(i)), dst[i])
	}
}

func TestParkFlags(t *testing.T) {
	p, c, region := newRing(t, 2)
	var d Desc

	// Park then cancel without a producer in between: the consumer still
	// owns the flag.
	c.Arm()
	require.Equal(t, uint32(1), getU32(region, offParked))
	require.True(t, c.Disarm())
	require.Zero(t, getU32(region, offParked))

	// The producer that finds the flag set clears it and must ring once.
	c.Arm()
	d = descFor(0)
	ok, wake, err := p.PushOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, wake)
	require.Zero(t, getU32(region, offParked))
	require.False(t, c.Disarm(), "the producer already took the flag, a wake-up is owed")
	_, wake, err = p.Push(wire.Cells([]Desc{descFor(1)}))
	require.NoError(t, err)
	require.False(t, wake, "at most one ring per park")

	// Full ring: the producer announces its wait, the consumer's pop wakes it.
	p.Arm()
	require.Equal(t, uint32(1), getU32(region, offWaiting))
	space, err := p.HasSpace()
	require.NoError(t, err)
	require.False(t, space)
	ok, wake, err = c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, wake)
	require.False(t, p.Disarm())
	ok, wake, err = c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, wake)
	p.Arm()
	require.True(t, p.Disarm())

	// A push that writes nothing must not consume the consumer's flag.
	c.Arm()
	n, wake, err := p.Push(nil)
	require.NoError(t, err)
	require.Zero(t, n)
	require.False(t, wake)
	require.True(t, c.Disarm())
}

// eq is require.Equal for hot randomized loops: reflection and the failure
// message are paid for only when the values differ.
func eq[T comparable](t *testing.T, want, got T, where func() string) {
	if want != got {
		t.Helper()
		require.Equal(t, want, got, where())
	}
}

func noErr(t *testing.T, err error, where func() string) {
	if err != nil {
		t.Helper()
		require.NoError(t, err, where())
	}
}

// seedFromEnv lets a failing randomized run be replayed exactly.
func seedFromEnv(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PLEXUS_RING_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with PLEXUS_RING_SEED=%d", seed, seed)
		}
	})
	return seed
}

// fifoModel is what a correct ring looks like from outside: a FIFO of
// sequence numbers, the indices it publishes and its two wake-up flags.
// TestRingMatchesModel and FuzzRing compare the ring with it.
type fifoModel struct {
	capacity int
	queue    []uint64 // sequence numbers in flight, oldest first
	seq      uint64   // the next sequence number to push
	tail     uint64
	head     uint64
	// The flags hold whatever the region holds: a peer may write garbage
	// into them, which then neither wakes anyone nor clears.
	parked, waiting uint32
}

// space is how many descriptors a push can still place.
func (m *fifoModel) space() int { return m.capacity - len(m.queue) }

// pushed records n descriptors pushed, numbered from seq on.
func (m *fifoModel) pushed(n int) {
	for i := range n {
		m.queue = append(m.queue, m.seq+uint64(i))
	}
	m.seq += uint64(n)
	m.tail += uint64(n)
}

// popped removes the n oldest descriptors and returns their sequence
// numbers; n must not exceed the queue.
func (m *fifoModel) popped(n int) []uint64 {
	got := m.queue[:n]
	m.queue = m.queue[n:]
	m.head += uint64(n)
	return got
}

// wakeConsumer reports whether a push of n descriptors owes the consumer
// a wake-up: it does when it publishes something while the consumer is
// parked, and it takes the flag.
func (m *fifoModel) wakeConsumer(n int) bool { return takeFlag(&m.parked, n > 0) }

// wakeProducer is wakeConsumer's mirror image for a pop of n.
func (m *fifoModel) wakeProducer(n int) bool { return takeFlag(&m.waiting, n > 0) }

// cancelPark reports whether the consumer still owns its park flag, and
// withdraws it.
func (m *fifoModel) cancelPark() bool { return takeFlag(&m.parked, true) }

// cancelWait is cancelPark for the producer's wait flag.
func (m *fifoModel) cancelWait() bool { return takeFlag(&m.waiting, true) }

// takeFlag clears a flag that is set (exactly 1) when cond holds, and
// reports whether it did.
func takeFlag(flag *uint32, cond bool) bool {
	if cond && *flag == 1 {
		*flag = 0
		return true
	}
	return false
}

// b2i turns the result of PushOne or PopOne into the number of
// descriptors moved, for the model.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRingMatchesModel drives one producer and one consumer from a single
// goroutine with random operations and compares every observable result
// with a plain FIFO queue and two flag variables.
func TestRingMatchesModel(t *testing.T) {
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))
	totalOps := 1_000_000
	if raceEnabled || testing.Short() {
		totalOps = 300_000
	}
	const segments = 20
	var src, dst [80]Desc
	for seg := range segments {
		capacity := 1 << rng.IntN(7)
		region := newRegion(t, capacity)
		// Start most segments near the 2^64 wrap of the indices.
		start := uint64(0)
		if seg%2 == 1 {
			start = ^uint64(0) - uint64(rng.IntN(3*capacity))
		}
		putU64(region, offTail, start)
		putU64(region, offHead, start)
		p, err := NewProducer(region, capacity)
		require.NoError(t, err)
		c, err := NewConsumer(region, capacity)
		require.NoError(t, err)

		mr := &modelRun{t: t, rng: rng, p: p, c: c, src: &src, dst: &dst, seg: seg,
			m: fifoModel{capacity: capacity, tail: start, head: start}}
		for mr.op = range totalOps / segments {
			modelOps[rng.IntN(len(modelOps))](mr)
			eq(t, mr.m.tail, getU64(region, offTail), mr.where)
			eq(t, mr.m.head, getU64(region, offHead), mr.where)
		}
	}
}

// modelOps are TestRingMatchesModel's operations, drawn uniformly: listing
// one twice doubles its weight.
var modelOps = [...]func(*modelRun){
	(*modelRun).push, (*modelRun).push,
	(*modelRun).pushOne,
	(*modelRun).pop, (*modelRun).pop,
	(*modelRun).popOne,
	(*modelRun).readyAndSpace,
	(*modelRun).pending,
	(*modelRun).preparePark,
	(*modelRun).cancelPark,
	(*modelRun).prepareWait,
	(*modelRun).cancelWait,
}

// modelRun is one segment of TestRingMatchesModel: a ring and its model.
type modelRun struct {
	t        *testing.T
	rng      *rand.Rand
	p        *Producer
	c        *Consumer
	m        fifoModel
	src, dst *[80]Desc
	seg, op  int
}

func (mr *modelRun) where() string {
	return fmt.Sprintf("segment %d (capacity %d), op %d", mr.seg, mr.m.capacity, mr.op)
}

func (mr *modelRun) push() {
	k := mr.rng.IntN(mr.m.capacity + 4)
	for i := range k {
		makeDesc(&mr.src[i], mr.m.seq+uint64(i))
	}
	n, wake, err := mr.p.Push(wire.Cells(mr.src[:k]))
	noErr(mr.t, err, mr.where)
	eq(mr.t, min(k, mr.m.space()), n, mr.where)
	eq(mr.t, mr.m.wakeConsumer(n), wake, mr.where)
	mr.m.pushed(n)
}

func (mr *modelRun) pushOne() {
	d := descFor(mr.m.seq)
	ok, wake, err := mr.p.PushOne((*Cell)(&d))
	noErr(mr.t, err, mr.where)
	eq(mr.t, mr.m.space() > 0, ok, mr.where)
	eq(mr.t, mr.m.wakeConsumer(b2i(ok)), wake, mr.where)
	mr.m.pushed(b2i(ok))
}

func (mr *modelRun) pop() {
	k := mr.rng.IntN(mr.m.capacity + 4)
	n, wake, err := mr.c.Pop(wire.Cells(mr.dst[:k]))
	noErr(mr.t, err, mr.where)
	eq(mr.t, min(k, len(mr.m.queue)), n, mr.where)
	eq(mr.t, mr.m.wakeProducer(n), wake, mr.where)
	for i, seq := range mr.m.popped(n) {
		eq(mr.t, descFor(seq), mr.dst[i], mr.where)
	}
}

func (mr *modelRun) popOne() {
	var d Desc
	ok, wake, err := mr.c.PopOne((*Cell)(&d))
	noErr(mr.t, err, mr.where)
	eq(mr.t, len(mr.m.queue) > 0, ok, mr.where)
	eq(mr.t, mr.m.wakeProducer(b2i(ok)), wake, mr.where)
	if ok {
		eq(mr.t, descFor(mr.m.popped(1)[0]), d, mr.where)
	}
}

func (mr *modelRun) readyAndSpace() {
	ready, err := mr.c.Ready()
	noErr(mr.t, err, mr.where)
	eq(mr.t, len(mr.m.queue) > 0, ready, mr.where)
	space, err := mr.p.HasSpace()
	noErr(mr.t, err, mr.where)
	eq(mr.t, mr.m.space() > 0, space, mr.where)
}

func (mr *modelRun) pending() {
	pending, err := mr.p.Pending()
	noErr(mr.t, err, mr.where)
	eq(mr.t, len(mr.m.queue), pending, mr.where)
}

func (mr *modelRun) preparePark() {
	mr.c.Arm()
	mr.m.parked = 1
}

func (mr *modelRun) cancelPark() { eq(mr.t, mr.m.cancelPark(), mr.c.Disarm(), mr.where) }

func (mr *modelRun) prepareWait() {
	mr.p.Arm()
	mr.m.waiting = 1
}

func (mr *modelRun) cancelWait() { eq(mr.t, mr.m.cancelWait(), mr.p.Disarm(), mr.where) }

// doorbell stands in for an eventfd: a buffer of one, rung without blocking,
// so that rings while nobody sleeps collapse into one pending wake-up.
type doorbell chan struct{}

func (b doorbell) ring() {
	select {
	case b <- struct{}{}:
	default:
	}
}

// wait blocks until the bell rings, the test aborts, or timeout passes. A
// timeout is a lost wake-up: the peer believed we were awake and will never
// ring again, so without the bound the test would hang instead of failing.
// With poll it first polls for a while (see spscConfig); it then blocks so
// that on a loaded machine a poller does not starve the side it waits for.
func (b doorbell) wait(stop <-chan struct{}, timer *time.Timer, timeout time.Duration, poll bool) error {
	if poll {
		for range 1024 {
			select {
			case <-b:
				return nil
			default:
			}
		}
	}
	timer.Reset(timeout)
	defer timer.Stop()
	select {
	case <-b:
		return nil
	case <-stop:
		return errStopped
	case <-timer.C:
		return fmt.Errorf("no wake-up within %v: lost wake-up", timeout)
	}
}

var errStopped = errors.New("stopped: the other side failed")

type spscStats struct {
	parks, waits, spurious int
}

// spscConfig shapes a concurrent run. With varying batches parking happens
// with partial batches; with lockstep every push fills the ring and every pop
// drains it, so each handshake is the last chance to wake the other side.
//
// A lost wake-up needs the two halves of the handshake to overlap within
// nanoseconds. A goroutine blocked in the runtime takes microseconds to come
// back, so with blocking waits the sides mostly take turns sleeping and a
// broken ordering shows up only rarely. pollBell makes a parked side first
// poll its doorbell: the protocol is the same (it still waits until rung, and
// a missing ring still strands it), but both sides stay on CPU and their
// handshakes collide all the time.
type spscConfig struct {
	capacity int
	lockstep bool
	pollBell bool
}

// spscSide is one side of a runSPSC run, with its half of the parking
// handshake (SPEC.md "Parking"). The producer waits for space as the
// consumer parks for data; only the ring calls and the bells differ.
type spscSide struct {
	name     string
	prepare  func()               // Consumer.Arm or Producer.Arm
	ready    func() (bool, error) // Ready or HasSpace
	cancel   func() bool          // Consumer.Disarm or Producer.Disarm
	bell     doorbell             // the bell this side sleeps on
	stop     <-chan struct{}
	timer    *time.Timer
	timeout  time.Duration
	poll     bool
	deadline time.Time

	sleeps, spurious int
}

// overDeadline bounds the whole run, checked every 1024 iterations so that
// reading the clock stays out of the hot loop.
func (s *spscSide) overDeadline(iter int, seq uint64) error {
	if iter&1023 == 0 && time.Now().After(s.deadline) {
		return fmt.Errorf("%s: deadline passed at seq %d", s.name, seq)
	}
	return nil
}

// park is called when the side could move nothing: it announces that it
// will sleep, looks once more, and sleeps only if there is still nothing
// to do. If it finds work after all it withdraws the announcement; a
// withdrawal that fails means the peer already took the flag and rang.
func (s *spscSide) park(seq uint64) error {
	s.prepare()
	ok, err := s.ready()
	if err != nil {
		return err
	}
	if ok {
		if !s.cancel() {
			s.spurious++ // the peer rang for us anyway
		}
		return nil
	}
	s.sleeps++
	if err := s.bell.wait(s.stop, s.timer, s.timeout, s.poll); err != nil {
		return fmt.Errorf("%s at seq %d: %w", s.name, seq, err)
	}
	s.cancel()
	return nil
}

// runSPSC moves total descriptors from a producer goroutine to a consumer
// goroutine, each parking on its doorbell exactly as SPEC.md "Parking"
// prescribes.
func runSPSC(t *testing.T, cfg spscConfig, total uint64) spscStats {
	p, c, _ := newRing(t, cfg.capacity)
	const timeout = 10 * time.Second
	data, space := make(doorbell, 1), make(doorbell, 1)
	stop := make(chan struct{})
	deadline := time.Now().Add(2 * time.Minute)
	side := func(name string, prepare func(), ready func() (bool, error), cancel func() bool, bell doorbell) *spscSide {
		return &spscSide{name: name, prepare: prepare, ready: ready, cancel: cancel, bell: bell,
			stop: stop, timer: time.NewTimer(timeout), timeout: timeout, poll: cfg.pollBell, deadline: deadline}
	}
	ps := side("producer", p.Arm, p.HasSpace, p.Disarm, space)
	cs := side("consumer", c.Arm, c.Ready, c.Disarm, data)

	errs := make(chan error, 2)
	go func() { errs <- produceSPSC(p, ps, cfg, total, data) }()
	go func() { errs <- consumeSPSC(c, cs, cfg, total, space) }()

	var stopOnce sync.Once
	var first error
	for range 2 {
		if err := <-errs; err != nil {
			stopOnce.Do(func() { close(stop) })
			if first == nil || errors.Is(first, errStopped) {
				first = err
			}
		}
	}
	require.NoError(t, first)
	return spscStats{parks: cs.sleeps, waits: ps.sleeps, spurious: cs.spurious + ps.spurious}
}

// produceSPSC pushes descriptors 0 to total-1 in batches of varying size
// (or of the capacity, in lockstep), ringing data when the consumer is
// parked.
func produceSPSC(p *Producer, s *spscSide, cfg spscConfig, total uint64, data doorbell) error {
	var batch [24]Desc
	var seq uint64
	for iter := 0; seq < total; iter++ {
		if err := s.overDeadline(iter, seq); err != nil {
			return err
		}
		k := uint64(1 + iter%len(batch))
		if cfg.lockstep {
			k = uint64(cfg.capacity)
		}
		k = min(k, total-seq)
		for i := range k {
			makeDesc(&batch[i], seq+i)
		}
		n, wake, err := p.Push(wire.Cells(batch[:k]))
		if err != nil {
			return err
		}
		if wake {
			data.ring()
		}
		seq += uint64(n)
		if n == 0 {
			if err := s.park(seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// consumeSPSC pops and checks descriptors 0 to total-1 in batches of
// varying size (or of 32, in lockstep), ringing space when the producer
// waits.
func consumeSPSC(c *Consumer, s *spscSide, cfg spscConfig, total uint64, space doorbell) error {
	var batch [32]Desc
	var seq uint64
	for iter := 0; seq < total; iter++ {
		if err := s.overDeadline(iter, seq); err != nil {
			return err
		}
		k := 1 + (iter*5)%len(batch)
		if cfg.lockstep {
			k = len(batch)
		}
		n, wake, err := c.Pop(wire.Cells(batch[:k]))
		if err != nil {
			return err
		}
		if wake {
			space.ring()
		}
		for i := range n {
			if err := checkDesc(&batch[i], seq); err != nil {
				return err
			}
			seq++
		}
		if n == 0 {
			if err := s.park(seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestConcurrentSPSC is the proof that the parking handshake loses no
// wake-up: any lost one leaves a side asleep forever and fails the test on
// its timeout. The small ring makes both sides park constantly.
func TestConcurrentSPSC(t *testing.T) {
	total := uint64(2_000_000)
	if raceEnabled || testing.Short() {
		total = 500_000
	}
	for _, cfg := range []spscConfig{
		{capacity: 8},
		{capacity: 4, lockstep: true},
		{capacity: 8, pollBell: true},
		{capacity: 4, lockstep: true, pollBell: true},
		{capacity: 1024},
	} {
		name := strconv.Itoa(cfg.capacity)
		if cfg.lockstep {
			name += "-lockstep"
		}
		if cfg.pollBell {
			name += "-pollbell"
		}
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			st := runSPSC(t, cfg, total)
			t.Logf("%d descriptors in %v: consumer parked %d times, producer waited %d times, %d spurious wake-ups",
				total, time.Since(start).Round(time.Millisecond), st.parks, st.waits, st.spurious)
			if cfg.capacity <= 8 {
				require.Positive(t, st.parks, "the consumer never parked: the test proves nothing")
				require.Positive(t, st.waits, "the producer never waited: the test proves nothing")
			}
		})
	}
}

// TestHostileTail: the consumer never reads the tail, so no value the
// peer writes there makes it read a cell that was not published, touch the
// caller's buffer or move its head; cells published afterwards still come.
func TestHostileTail(t *testing.T) {
	const capacity = 8
	for _, pushed := range []uint64{0, 3, capacity} {
		p, c, region := newRing(t, capacity)
		src := make([]Desc, pushed)
		for i := range src {
			makeDesc(&src[i], uint64(i))
		}
		n, _, err := p.Push(wire.Cells(src))
		require.NoError(t, err)
		require.Equal(t, int(pushed), n)
		dst := make([]Desc, capacity)
		n, _, err = c.Pop(wire.Cells(dst))
		require.NoError(t, err)
		require.Equal(t, int(pushed), n)
		head := pushed

		for _, bad := range []uint64{head + 1, head + capacity, head + capacity + 1, head - 1, head + 1<<63, ^uint64(0), head + 1<<40} {
			putU64(region, offTail, bad)
			sentinel := descFor(0xDEAD)
			for i := range dst {
				dst[i] = sentinel
			}
			n, wake, err := c.Pop(wire.Cells(dst))
			require.NoError(t, err, "tail %#x, head %d", bad, head)
			require.Zero(t, n)
			require.False(t, wake)
			for i := range dst {
				require.Equal(t, sentinel, dst[i], "Pop must not copy anything that was not published")
			}
			d := sentinel
			ok, _, err := c.PopOne((*Cell)(&d))
			require.NoError(t, err)
			require.False(t, ok)
			require.Equal(t, sentinel, d)
			ready, err := c.Ready()
			require.NoError(t, err)
			require.False(t, ready)
			require.False(t, c.Pending())
			require.Equal(t, head, getU64(region, offHead), "the head must not move")
		}

		// The producer stores its own tail with its next push, and the
		// consumer takes what it published.
		d := descFor(head)
		ok, _, err := p.PushOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, head+1, getU64(region, offTail))
		require.True(t, c.Pending())
		var got Desc
		ok, _, err = c.PopOne((*Cell)(&got))
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, checkDesc(&got, head))
	}
}

// TestHostileStamps: a stamp is taken only if it is the one the consumer's
// own head should carry, so stamps a peer writes out of turn (for a later
// position, the lap before, or one that wrapped) show nothing, and the
// reserved field of what is taken is zero whatever the producer put there.
func TestHostileStamps(t *testing.T) {
	const capacity = 4
	p, c, region := newRing(t, capacity)
	stampAt := func(pos uint64, v uint32) {
		binary.LittleEndian.PutUint16(region[HeaderSize+int(pos%capacity)*CellSize+stampOff+2:], uint16(v>>16))
	}
	for _, v := range []uint32{c.s.stamp(capacity), c.s.stamp(^uint64(0)), c.s.stamp(0) + 2<<16, c.s.stamp(0) ^ 1<<31, 0} {
		stampAt(0, v)
		ready, err := c.Ready()
		require.NoError(t, err)
		require.False(t, ready, "stamp %#x at position 0", v)
		var d Desc
		ok, _, err := c.PopOne((*Cell)(&d))
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, Desc{}, d)
	}
	// A cell stamped by the peer at the consumer's head is taken as
	// published (what it holds is for the caller to validate), with zero
	// where the stamp was.
	stampAt(0, c.s.stamp(0))
	region[HeaderSize+stampOff] = 7 // the kind
	var d Desc
	ok, _, err := c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, wire.Kind(7), d.Kind())
	require.Zero(t, d.Reserved())

	// The producer's reserved field never reaches the consumer (a ring
	// of its own: the peer's stamp above put the consumer a position
	// ahead of this producer).
	p, c, _ = newRing(t, capacity)
	src := descFor(9)
	binary.LittleEndian.PutUint16(src[stampOff+2:], 0xBEEF)
	ok, _, err = p.PushOne((*Cell)(&src))
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.Zero(t, d.Reserved())
	binary.LittleEndian.PutUint16(src[stampOff+2:], 0)
	require.Equal(t, src, d)
}

// TestHostileHead: the producer must reject every impossible head with
// ErrCorrupt and must not write a single descriptor byte or move its tail.
func TestHostileHead(t *testing.T) {
	const capacity = 8
	p, _, region := newRing(t, capacity)
	src := make([]Desc, capacity)
	for i := range src {
		makeDesc(&src[i], uint64(i))
	}
	n, _, err := p.Push(wire.Cells(src)) // full, so the next push must read the head
	require.NoError(t, err)
	require.Equal(t, capacity, n)
	tail := uint64(capacity)
	snapshot := append([]byte(nil), region[HeaderSize:]...)

	for _, bad := range []uint64{tail + 1, tail + 100, ^uint64(0), 1 << 63, tail - capacity - 1} {
		putU64(region, offHead, bad)
		n, wake, err := p.Push(wire.Cells(src))
		require.ErrorIs(t, err, ErrCorrupt, "head %#x, tail %d", bad, tail)
		require.Zero(t, n)
		require.False(t, wake)
		d := descFor(77)
		ok, _, err := p.PushOne((*Cell)(&d))
		require.ErrorIs(t, err, ErrCorrupt)
		require.False(t, ok)
		_, err = p.HasSpace()
		require.ErrorIs(t, err, ErrCorrupt)
		_, err = p.Pending()
		require.ErrorIs(t, err, ErrCorrupt)
		require.Equal(t, snapshot, region[HeaderSize:], "no descriptor may be written")
		require.Equal(t, tail, getU64(region, offTail))
	}

	// A head that moved backwards but stays within the ring is a lie the
	// producer cannot detect; it only shrinks the free space, never lets
	// the producer overrun.
	putU64(region, offHead, tail-capacity)
	n, _, err = p.Push(wire.Cells(src))
	require.NoError(t, err)
	require.Zero(t, n)
	putU64(region, offHead, tail-2)
	n, _, err = p.Push(wire.Cells(src))
	require.NoError(t, err)
	require.Equal(t, capacity-2, n)
}

// Garbage in the flags must neither panic nor make anyone ring a bell that
// nobody is waiting on.
func TestHostileFlags(t *testing.T) {
	p, c, region := newRing(t, 4)
	for _, v := range []uint32{2, 0xFFFFFFFF, 0x100} {
		putU32(region, offParked, v)
		putU32(region, offWaiting, v)
		d := descFor(1)
		ok, wake, err := p.PushOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
		require.False(t, wake)
		ok, wake, err = c.PopOne((*Cell)(&d))
		require.NoError(t, err)
		require.True(t, ok)
		require.False(t, wake)
		require.False(t, c.Disarm())
		require.False(t, p.Disarm())
		require.Equal(t, v, getU32(region, offParked))
	}
}

// TestPendingIgnoresRewrittenHead: the consumer's head in the ring is the
// peer's to rewrite; Pending must not take a head it never published for
// data waiting (a head one past the tail made every waiter see pending
// data that Pop never found, and spin at a full core).
func TestPendingIgnoresRewrittenHead(t *testing.T) {
	p, c, region := newRing(t, 8)
	d := descFor(1)
	ok, _, err := p.PushOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, c.Pending())
	ok, _, err = c.PopOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, c.Pending())
	tail := getU64(region, offTail)
	for _, bad := range []uint64{tail + 1, tail - 1, 0, ^uint64(0)} {
		putU64(region, offHead, bad)
		require.False(t, c.Pending(), "head rewritten to %#x with tail %d", bad, tail)
		ready, err := c.Ready()
		require.NoError(t, err)
		require.False(t, ready)
	}
	// Data the producer publishes still shows.
	putU64(region, offHead, tail)
	ok, _, err = p.PushOne((*Cell)(&d))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, c.Pending())
}
