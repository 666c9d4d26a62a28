package buslink

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/wire"
)

// Batches: the host sends a subscription's deliveries in batches, one
// stream message holding every delivery its bus subscription had ready
// (up to MaxBatch, and about batchBytes), so that a stream of small
// messages costs the link, the subscriber's decoding and its hand-over
// to Next once per batch rather than once per message.

const (
	// MaxBatch bounds the deliveries of one batch.
	MaxBatch = 256
	// batchBytes: the host closes a batch once its encoding reaches this
	// size, so that the subscriber's copies of it stay small. 16 KiB, not
	// 8: a batch of 8 KiB took a slot of the same class on shared memory
	// (64 KiB, of which there are 16) and cost a send, a receive and a
	// hand-over for some 100 messages of 64 bytes; at 16 KiB the link
	// carries the subscription's window (SubscribeWindow) in the slots
	// there are, and each batch 190 messages: plexus bench
	// bus_fanout1_msgs_per_sec 4.8 against 5.8 M/s (BENCHMARKS.md).
	batchBytes = 16 << 10
)

// batchLimits bound a batch's decoding: the first tag and MaxBatch
// records of 6 fields and a full header each, nested a map in an array
// in an array in an array.
var batchLimits = codec.Limits{MaxDepth: 5, MaxStringLen: wire.MaxMetadataBytes,
	MaxElements: 3 + MaxBatch*(6+2*wire.MaxMetadataEntries)}

// A batch on the wire: [first tag, [record, ...]], 1 to MaxBatch
// records (delivery), the i-th's tag the first plus i; only the last
// may be large (its data is the stream's next message).

// batchHeadroom is the room kept ahead of a batchBuf's records for the
// batch's head, written once the first tag is known: a 2-array, a
// uint64 and an array header of at most MaxBatch.
const batchHeadroom = 16

// batchBuf is a batch being built: its records, encoded as they come (on
// the publisher's goroutine when a sink builds it), after room for the
// head, which frame writes once the batch's place in the stream, and so
// its first tag, is known.
type batchBuf struct {
	b []byte // batchHeadroom bytes, then the records
	n int    // records
}

func newBatchBuf() *batchBuf {
	bb := new(batchBuf)
	bb.reset()
	return bb
}

// reset empties the batch, keeping its memory.
func (bb *batchBuf) reset() {
	if bb.b == nil {
		bb.b = make([]byte, batchHeadroom, batchHeadroom+batchBytes+512)
	}
	bb.b, bb.n = bb.b[:batchHeadroom], 0
}

func (bb *batchBuf) add(r *delivery) {
	bb.b = r.appendTo(bb.b)
	bb.n++
}

// full: a batch closes at MaxBatch records or batchBytes of them.
func (bb *batchBuf) full() bool { return bb.n >= MaxBatch || len(bb.b)-batchHeadroom >= batchBytes }

// frame writes the head for the first tag and returns the batch's
// encoding, which lies in bb until its next reset.
func (bb *batchBuf) frame(first uint64) []byte {
	var h [batchHeadroom]byte
	head := codec.AppendArrayHeader(h[:0], 2)
	head = codec.AppendUint64(head, first)
	head = codec.AppendArrayHeader(head, bb.n)
	off := batchHeadroom - len(head)
	copy(bb.b[off:], head)
	return bb.b[off:]
}

// batchIn decodes a batch on the subscriber's side into deliveries that
// are the subscriber's own copies (the stream's payload is released when
// Recv returns). It carries, from one batch to the next, the last
// subject (validated; an equal one is shared, see internString) and the
// last tag: each batch's first tag must follow it.
type batchIn struct {
	sub     *Subscription // the deliveries'
	subject string
	tag     uint64
	rec     delivery
	dec     codec.Decoder // kept: a decoder on the stack would escape
	// out is the last batch decoded, oldest first; reused by the next.
	out []*Delivery
	// large is the size of the last delivery's data when it is large
	// (it follows the batch), else 0.
	large uint64
	// The batch being decoded's deliveries and small data (see place).
	slab      []Delivery
	chunk     []byte
	chunkSize int
}

func (m *batchIn) UnmarshalMsg(b []byte) ([]byte, error) {
	clear(m.out)
	m.out, m.large = m.out[:0], 0
	d := &m.dec
	d.Reset(b, batchLimits)
	defer d.Reset(nil, batchLimits) // holds no view of the payload
	var first uint64
	n := 0
	err := d.Tuple(2)
	if err == nil {
		first, err = d.Uint64()
	}
	if err == nil {
		n, err = d.ArrayHeader()
	}
	switch {
	case err != nil:
	case n == 0 || n > MaxBatch:
		err = plexus.Errorf(plexus.InvalidArgument, "buslink: batch of %d deliveries (1 to %d)", n, MaxBatch)
	case first != m.tag+1:
		err = plexus.Errorf(plexus.InvalidArgument, "buslink: batch from tag %d after tag %d", first, m.tag)
	default:
		// The batch's deliveries, and room for its small data, which is
		// at most the batch's size (made when the first comes).
		m.slab, m.chunk, m.chunkSize = make([]Delivery, n), nil, len(b)
	}
	subject := m.subject
	for i := 0; i < n && err == nil; i++ {
		r := &m.rec
		r.tag = first + uint64(i)
		if err = r.decode(d, subject); err != nil {
			break
		}
		if r.flags&flagLarge != 0 && i != n-1 {
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: large delivery %d is not the last of its batch", r.tag)
			break
		}
		subject, m.large = r.subject, r.size
		m.out = append(m.out, m.place(i, r))
	}
	if err == nil {
		err = d.Finish()
	}
	m.rec = delivery{}         // holds no view of the payload
	m.slab, m.chunk = nil, nil // the deliveries' now
	if err != nil {
		clear(m.out)
		m.out, m.large = m.out[:0], 0
		return nil, malformed("batch", err)
	}
	m.subject, m.tag = subject, first+uint64(n-1)
	return nil, nil
}

// place makes the subscriber's delivery of the i-th record of the batch
// being decoded, its data copied. The deliveries of a batch share two
// allocations, made for the batch: one holds the deliveries, the other
// the data of the small ones (at most the batch's size, which bounds
// it). At millions of small messages a second, allocations are most of a
// subscriber's cost (one per message before, with its data); the price
// is that a delivery kept past its batch keeps the batch's memory (its
// deliveries and data, some 20 KiB) alive, nothing more.
func (m *batchIn) place(i int, r *delivery) *Delivery {
	d := &m.slab[i]
	var data []byte
	switch n := len(r.data); {
	case r.data == nil:
	case n == 0:
		data = []byte{}
	case n > placeMax:
		data = make([]byte, n)
		copy(data, r.data)
	default:
		if cap(m.chunk)-len(m.chunk) < n {
			m.chunk = make([]byte, 0, max(m.chunkSize, n))
		}
		off := len(m.chunk)
		m.chunk = append(m.chunk, r.data...)
		data = m.chunk[off : off+n : off+n]
	}
	*d = Delivery{Subject: r.subject, Header: r.header, Data: data, Seq: r.seq,
		Redelivered: r.flags&flagRedelivered != 0, Replayed: r.flags&flagReplayed != 0,
		tag: r.tag, sub: m.sub}
	return d
}

// placeMax: data longer than this gets an allocation of its own.
const placeMax = 2 << 10
