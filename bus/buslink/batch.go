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
	// size, so that a batch of small messages fits a packed frame's
	// worth and the subscriber's copies of it stay small.
	batchBytes = 8 << 10
)

// batchLimits bound a batch's decoding: MaxBatch deliveries of 7 fields
// and a full header each, nested a map in an array in an array.
var batchLimits = codec.Limits{MaxDepth: 4, MaxStringLen: wire.MaxMetadataBytes,
	MaxElements: 1 + MaxBatch*(7+2*wire.MaxMetadataEntries)}

// batchOut is a batch the host sends: [delivery, ...], 1 to MaxBatch of
// them, tags consecutive; only the last may be large (its data is the
// stream's next message).
type batchOut struct {
	recs []delivery
}

func (m *batchOut) Msgsize() int {
	n := codec.SizeArrayHeader
	for i := range m.recs {
		n += m.recs[i].Msgsize()
	}
	return n
}

func (m *batchOut) MarshalMsg(b []byte) ([]byte, error) {
	b = codec.AppendArrayHeader(b, len(m.recs))
	for i := range m.recs {
		b = m.recs[i].appendTo(b)
	}
	return b, nil
}

// batchIn decodes a batch on the subscriber's side into deliveries that
// are the subscriber's own copies (the stream's payload is released when
// Recv returns). It carries, from one batch to the next, the last
// subject (validated; an equal one is shared, see internString) and the
// last tag: each delivery's tag must follow the one before it.
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
}

func (m *batchIn) UnmarshalMsg(b []byte) ([]byte, error) {
	clear(m.out)
	m.out, m.large = m.out[:0], 0
	d := &m.dec
	d.Reset(b, batchLimits)
	defer d.Reset(nil, batchLimits) // holds no view of the payload
	n, err := d.ArrayHeader()
	if err == nil && (n == 0 || n > MaxBatch) {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: batch of %d deliveries (1 to %d)", n, MaxBatch)
	}
	for i := 0; i < n && err == nil; i++ {
		r := &m.rec
		if err = r.decode(d, m.subject); err != nil {
			break
		}
		switch {
		case r.tag != m.tag+1:
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: delivery tag %d after %d", r.tag, m.tag)
		case r.flags&flagLarge != 0 && i != n-1:
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: large delivery %d is not the last of its batch", r.tag)
		default:
			m.subject, m.tag, m.large = r.subject, r.tag, r.size
			m.out = append(m.out, r.copyFor(m.sub))
		}
	}
	if err == nil {
		err = d.Finish()
	}
	m.rec = delivery{} // holds no view of the payload
	if err != nil {
		clear(m.out)
		m.out, m.large = m.out[:0], 0
		return nil, malformed("batch", err)
	}
	return nil, nil
}

// copyFor makes the subscriber's delivery of the record, its data copied
// (into the delivery's own allocation when small, see newDelivery).
func (m *delivery) copyFor(sub *Subscription) *Delivery {
	d, data := newDelivery(len(m.data))
	copy(data, m.data)
	if m.data == nil {
		data = nil
	}
	*d = Delivery{Subject: m.subject, Header: m.header, Data: data, Seq: m.seq,
		Redelivered: m.flags&flagRedelivered != 0, Replayed: m.flags&flagReplayed != 0,
		tag: m.tag, sub: sub}
	return d
}

// newDelivery allocates a delivery and room for n bytes of data, in one
// allocation when n is small: at millions of small messages a second,
// the allocations are most of a subscriber's cost. The data then keeps
// its delivery's memory (a hundred bytes) alive, nothing more.
func newDelivery(n int) (*Delivery, []byte) {
	switch {
	case n == 0:
		return new(Delivery), []byte{}
	case n <= 32:
		x := new(struct {
			d Delivery
			b [32]byte
		})
		return &x.d, x.b[:n:n]
	case n <= 64:
		x := new(struct {
			d Delivery
			b [64]byte
		})
		return &x.d, x.b[:n:n]
	case n <= 160:
		x := new(struct {
			d Delivery
			b [160]byte
		})
		return &x.d, x.b[:n:n]
	}
	return new(Delivery), make([]byte, n)
}
