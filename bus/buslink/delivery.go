package buslink

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Delivery is one message as a remote subscription receives it. Its
// fields are the subscriber's own copies, but for Data longer than
// LargeData: a read-only view of the frame it arrived in (on shared
// memory, the publisher's sealed memory when it was sealed), valid until
// Done, which releases it (on a goroutine of its own, see Done). Until
// it is released the frame holds the stream's flow-control window
// (SubscribeWindow): after a large one of that size or more, the next
// delivery waits for its release.
type Delivery struct {
	Subject string
	Header  plexus.Metadata
	Data    []byte
	// Seq is the message's publish sequence number on the remote bus.
	Seq uint64
	// Redelivered: another member of the queue group had it and ended
	// before acknowledging it.
	Redelivered bool
	// Replayed: it comes from the subject's history.
	Replayed bool

	done  atomic.Bool // beside the flags: one word for the three
	tag   uint64
	sub   *Subscription
	lease *session.Lease // large Data's frame, until Done
}

func (d *Delivery) release() {
	if d.lease != nil {
		d.lease.Release()
	}
}

// releaseLater is release for Done: large Data's frame is released on a
// goroutine of its own, so that Done returns at once. On shared memory
// that release unmaps the memfd the data arrived in (0.1-0.3 ms for the
// page tables of a 16 MiB message read in 64 places), and the process
// that drops a memfd's last mapping or descriptor frees its pages there
// and then (1.5 ms for 16 MiB), usually one of the plugins a message was
// fanned out to. A consumer that reports or takes its next message after
// Done waited for all that: plexus bench, bus_16mib_fanout4_ms, median
// 2.7 ms with the release in Done, 1.5 ms without (six interleaved runs
// each on 2 vCPUs). Done's caller has finished with Data, so nothing
// waits for the release but the stream's window, which the frame holds
// until then, and the memory, which the kernel gives back moments later.
func (d *Delivery) releaseLater() {
	if l := d.lease; l != nil {
		go l.Release()
	}
}

// Done says the consumer is finished with the delivery, and releases
// large Data (see Delivery), also when it fails: on a goroutine of its
// own, so that Done returns without waiting for the frame's memory to be
// unmapped and freed (the stream's window comes back once it is). For a
// queue member it is the acknowledgement, sent to the host in a batch
// with others; until the host has it, the message is in flight there
// and goes to another member if this one ends. Done succeeds once; it
// fails with FAILED_PRECONDITION when called again, or for a queue
// member once its subscription has ended or is unsubscribing (the
// message went, or will go, to another member).
func (d *Delivery) Done() error {
	if !d.done.CompareAndSwap(false, true) {
		return plexus.Errorf(plexus.FailedPrecondition, "buslink: delivery %d on %q already done", d.Seq, d.Subject)
	}
	d.releaseLater()
	if d.sub.acks == nil {
		return nil
	}
	if !d.sub.acks.add(d.tag) {
		return plexus.Errorf(plexus.FailedPrecondition,
			"buslink: delivery %d on %q: its queue subscription ended first (the message goes to another member)", d.Seq, d.Subject)
	}
	return nil
}

// acker sends a queue member's acknowledgements: Done adds a tag, and
// one goroutine sends what has accumulated in one message while the
// previous one is on its way, so that acks cost a fraction of a message
// each under load and go at once when idle.
type acker struct {
	st *session.Stream

	mu      sync.Mutex
	pending []uint64
	stopped bool
	wake    chan struct{} // capacity 1
	exited  chan struct{}

	// The writer's own: every tag below below was acknowledged; extra
	// holds the tags above it acknowledged one by one.
	below uint64
	extra map[uint64]struct{}
}

func newAcker(st *session.Stream) *acker {
	return &acker{st: st, wake: make(chan struct{}, 1), exited: make(chan struct{}), below: 1, extra: map[uint64]struct{}{}}
}

// add queues tag; false once the acker has stopped.
func (a *acker) add(tag uint64) bool {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return false
	}
	a.pending = append(a.pending, tag)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// stop refuses further tags and waits for the writer to have sent the
// ones queued (or to have failed to).
func (a *acker) stop() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	<-a.exited
}

func (a *acker) run() {
	defer close(a.exited)
	var batch []uint64
	for range a.wake {
		a.mu.Lock()
		batch, a.pending = a.pending, batch[:0]
		stopped := a.stopped
		a.mu.Unlock()
		if len(batch) > 0 && a.send(batch) != nil {
			a.mu.Lock()
			a.stopped = true
			a.mu.Unlock()
			return
		}
		if stopped {
			return
		}
	}
}

// send turns tags into acks: a cumulative upTo where the tags acknowledged
// so far are contiguous, the others one by one.
func (a *acker) send(tags []uint64) error {
	slices.Sort(tags)
	var explicit []uint64
	advanced := false
	for _, t := range tags {
		if t != a.below {
			a.extra[t] = struct{}{}
			explicit = append(explicit, t)
			continue
		}
		advanced = true
		for a.below++; ; a.below++ {
			if _, ok := a.extra[a.below]; !ok {
				break
			}
			delete(a.extra, a.below)
		}
	}
	m := ack{}
	if advanced {
		m.upTo = a.below - 1
	}
	for {
		n := min(len(explicit), MaxAckTags)
		m.tags = explicit[:n]
		explicit = explicit[n:]
		if err := a.st.Send(&m); err != nil {
			return err
		}
		if len(explicit) == 0 {
			return nil
		}
		m.upTo = 0
	}
}
