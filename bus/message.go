package bus

import (
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
)

// Payload owns the memory behind a Message's Data: a shared-memory slot,
// a pooled buffer. The bus calls Release exactly once, after the last
// use of the message: when every delivery of it was Done or dropped and
// no history keeps it. Release is called with no lock of the bus held.
type Payload interface {
	Release()
}

// Message is what a publisher hands to Publish. Publish takes ownership
// of it: the bus shares it, unchanged, among its deliveries and its
// history, so the publisher must not modify it (nor Data, nor Header)
// afterwards.
type Message struct {
	// Subject is concrete: tokens separated by '.', no wildcards.
	Subject string
	// Header is optional metadata; the bus does not read it.
	Header plexus.Metadata
	// Data is the body; the bus does not read it.
	Data []byte
	// Payload, if not nil, owns Data and is released exactly once (also
	// when Publish fails).
	Payload Payload
	// Type, if not 0, is the message's type (a typed topic's, see
	// types.go): a typed message whose subject carries another type is
	// refused with VERSION_MISMATCH.
	Type uint64
}

// Delivery is one message as one subscription receives it. Its fields
// share the published message's memory: read them, do not modify them,
// and do not keep Data past Done, which may release it. A queue member's
// delivery stops being its consumer's when the subscription ends (the
// message goes to another member, or is dropped and may be released):
// a consumer that ends its own member stops reading its deliveries.
// A Delivery is not copied (go vet's copylocks): TakeBatch fills the
// caller's slice in place, and Done is called on &ds[i].
type Delivery struct {
	Subject string
	Header  plexus.Metadata
	Data    []byte
	// Type is the message's type (Message.Type, 0 if untyped).
	Type uint64
	// Seq is the message's publish sequence number on its bus: one
	// number per Publish, increasing in the order the bus accepted them.
	Seq uint64
	// Redelivered: the message had been handed to another member of the
	// queue group, which ended before it was Done.
	Redelivered bool
	// Replayed: the message comes from the subject's history, retained
	// before the subscription began.
	Replayed bool

	env   *envelope
	sub   *Subscription
	order uint64      // queue members: the take order, its key in the member's inflight
	done  atomic.Bool // fan-out deliveries; a queue member's are in its inflight
}

// Done says the consumer is finished with the delivery; the bus may then
// release the message's payload. For a queue member it is the
// acknowledgement: until Done, the message is in flight, and is handed
// to another member if this one ends. Done succeeds once; it fails with
// FAILED_PRECONDITION when called again, or when the member ended first.
func (d *Delivery) Done() error {
	if d.sub == nil { // the zero Delivery, e.g. a slot TakeBatch did not fill
		return plexus.Errorf(plexus.FailedPrecondition, "bus: Done on an empty delivery")
	}
	if d.sub.group != nil {
		if !d.sub.ack(d) {
			return plexus.Errorf(plexus.FailedPrecondition, "bus: delivery %d on %q already done, or its queue subscription ended first (the message went to another member, or was dropped)", d.Seq, d.Subject)
		}
	} else if !d.done.CompareAndSwap(false, true) {
		return plexus.Errorf(plexus.FailedPrecondition, "bus: delivery %d on %q already done", d.Seq, d.Subject)
	}
	d.env.release()
	return nil
}

// envelope is one published message, shared by its deliveries, its
// history entry and the publisher during Publish. Each holds one
// reference; the last one out releases the payload.
type envelope struct {
	subject string
	tokens  []string
	header  plexus.Metadata
	data    []byte
	payload Payload
	typ     uint64 // Message.Type
	seq     uint64
	refs    atomic.Int64
}

// publication is a message during its Publish, on the publisher's
// stack. Its envelope is made only once something keeps the message (a
// buffer, a history, a queue group, a Block wait): a message that every
// matching subscription's sink copied, or that nothing matched, costs
// no allocation.
type publication struct {
	subject string
	tokens  []string
	header  plexus.Metadata
	data    []byte
	payload Payload
	typ     uint64
	seq     uint64
	e       *envelope // made by env
}

func newPublication(m *Message, tokens []string) publication {
	return publication{subject: m.Subject, tokens: tokens, header: m.Header, data: m.Data, payload: m.Payload, typ: m.Type}
}

// env returns the message's envelope, making it, with the publisher's
// reference, the first time.
func (p *publication) env() *envelope {
	if p.e == nil {
		p.e = &envelope{subject: p.subject, tokens: p.tokens, header: p.header, data: p.data, payload: p.payload, typ: p.typ, seq: p.seq}
		p.e.refs.Store(1) // the publisher's, until finish
	}
	return p.e
}

// retained returns the envelope with a reference for the caller.
func (p *publication) retained() *envelope {
	e := p.env()
	e.retain()
	return e
}

// finish ends the publisher's part: its reference, or the payload
// itself when nothing kept the message.
func (p *publication) finish() {
	switch {
	case p.e != nil:
		p.e.release()
	case p.payload != nil:
		p.payload.Release()
	}
}

func (e *envelope) retain() { e.refs.Add(1) }

func (e *envelope) release() {
	switch n := e.refs.Add(-1); {
	case n == 0 && e.payload != nil:
		e.payload.Release()
	case n < 0:
		panic("bus: message released more often than retained")
	}
}

// releases collects the references dropped while a lock is held, so
// that Payload.Release (foreign code) runs after the lock is let go.
type releases []*envelope

func (r *releases) add(e *envelope) { *r = append(*r, e) }

func (r *releases) run() {
	for _, e := range *r {
		e.release()
	}
	*r = nil
}
