package buslink

import "github.com/plexus-ipc/plexus/bus"

// Sink bounds: a message whose data is longer than sinkData goes through
// the bus subscription's buffer and the pump (it is worth a copy less
// than its encoding on the publisher's goroutine), and so does every
// message while the sink holds sinkBytes of records.
const (
	sinkData  = 4 << 10
	sinkBytes = 1 << 20
	// sinkSpares bounds the sent batches kept for reuse.
	sinkSpares = 8
)

// sink is a fan-out subscription's bus.Sink: Put encodes each message
// into the batch being built, on the publisher's goroutine, so that a
// stream of small messages costs the host one encoding each and the pump
// one send per batch, rather than a buffered reference, a take, a Done
// and an encoding on another goroutine each.
//
// It has no lock of its own: the bus calls Put with the subscription's
// mutex held (so Puts come one at a time, in the order the bus accepted
// the messages), and the pump takes batches under the same mutex
// (bus.Subscription.TakeSunk, with takeLocked): one lock per batch
// rather than one per message. The bus counts what the sink holds
// against the subscription's Buffer until the pump takes it, so the
// overflow policy applies as it does to buffered messages; sinkBytes
// bounds the memory besides.
type sink struct {
	ready []*batchBuf // closed batches, oldest first
	cur   *batchBuf   // being built; nil when none
	bytes int         // of the records held
	spare []*batchBuf // sent, for reuse
}

// Put encodes d's message as a record; false for large data or once the
// sink holds sinkBytes.
func (k *sink) Put(d *bus.Delivery) bool {
	if len(d.Data) > sinkData || k.bytes >= sinkBytes {
		return false
	}
	r := delivery{seq: d.Seq, subject: d.Subject, header: d.Header, data: d.Data}
	if d.Replayed {
		r.flags |= flagReplayed
	}
	bb := k.cur
	if bb == nil {
		bb = k.spareLocked()
		k.cur = bb
	}
	before := len(bb.b)
	bb.add(&r)
	k.bytes += len(bb.b) - before
	if bb.full() {
		k.ready = append(k.ready, bb)
		k.cur = nil
	}
	return true
}

func (k *sink) spareLocked() *batchBuf {
	if n := len(k.spare); n > 0 {
		bb := k.spare[n-1]
		k.spare = k.spare[:n-1]
		return bb
	}
	return newBatchBuf()
}

// takeLocked takes the oldest batch the sink holds, closed or being
// built, or returns nil when it holds none; sent batches come back for
// reuse, at most sinkSpares of them kept.
func (k *sink) takeLocked(sent []*batchBuf) *batchBuf {
	for _, bb := range sent {
		if len(k.spare) < sinkSpares {
			bb.reset()
			k.spare = append(k.spare, bb)
		}
	}
	var bb *batchBuf
	switch {
	case len(k.ready) > 0:
		bb = k.ready[0]
		n := copy(k.ready, k.ready[1:])
		k.ready[n] = nil
		k.ready = k.ready[:n]
	case k.cur != nil:
		bb, k.cur = k.cur, nil
	default:
		return nil
	}
	k.bytes -= len(bb.b) - batchHeadroom
	return bb
}
