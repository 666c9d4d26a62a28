package buslink

import "sync"

// inbound holds a subscription's received deliveries until Next takes
// them: the reading goroutine puts a whole batch in under one lock, and
// consumers take one each. Hand-over costs a wake-up only when a consumer
// was waiting, so a busy stream pays it once per batch, not per message.
//
// The reader puts a batch in only while fewer than MaxBatch deliveries
// and batchBytes of data are held (put says when to wait for room), so
// it holds at most 2*MaxBatch deliveries and one batch's data beyond
// batchBytes; the reader takes nothing from the stream meanwhile, so that
// the stream's flow control holds back the host while the consumer is
// slow.
type inbound struct {
	mu      sync.Mutex
	ring    [2 * MaxBatch]*Delivery
	head, n int
	bytes   int  // the held deliveries' data
	waiters int  // consumers counted waiting on ready
	shut    bool // no more puts: what put is given is refused
	// ready is signalled when deliveries arrive for waiting consumers,
	// and passed on by a consumer that leaves more behind; room when the
	// held deliveries stop being full (see full). Capacity 1 each: a
	// signal is a hint, looked at again under mu.
	ready, room chan struct{}
}

func newInbound() *inbound {
	return &inbound{ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// put adds ds, oldest first. It returns false, keeping none, after shut;
// full says the reader waits for room before receiving more.
func (q *inbound) put(ds []*Delivery) (ok, full bool) {
	q.mu.Lock()
	if q.shut {
		q.mu.Unlock()
		return false, false
	}
	for _, d := range ds {
		q.ring[(q.head+q.n)%len(q.ring)] = d
		q.n++
		q.bytes += len(d.Data)
	}
	full = q.full()
	wake := q.waiters > 0
	q.mu.Unlock()
	if wake {
		signal(q.ready)
	}
	return true, full
}

func (q *inbound) full() bool { return q.n >= MaxBatch || q.bytes >= batchBytes }

// hasRoom reports whether the reader may receive the next batch.
func (q *inbound) hasRoom() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.full() || q.shut
}

// take removes the oldest delivery. When there is none it counts the
// caller as a waiter, which must then wait on ready and call take again
// with waited, or call leave.
func (q *inbound) take(waited bool) *Delivery {
	q.mu.Lock()
	if waited {
		q.waiters--
	}
	if q.n == 0 {
		q.waiters++
		q.mu.Unlock()
		return nil
	}
	wasFull := q.full()
	d := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.bytes -= len(d.Data)
	more := q.n > 0 && q.waiters > 0
	room := wasFull && !q.full()
	q.mu.Unlock()
	if more {
		signal(q.ready)
	}
	if room {
		signal(q.room)
	}
	return d
}

// leave uncounts a waiter that stops waiting without taking.
func (q *inbound) leave() {
	q.mu.Lock()
	q.waiters--
	q.mu.Unlock()
}

// shutdown refuses further puts and returns what was held, oldest first.
func (q *inbound) shutdown() []*Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shut = true
	out := make([]*Delivery, 0, q.n)
	q.bytes = 0
	for ; q.n > 0; q.n-- {
		out = append(out, q.ring[q.head])
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
	}
	signal(q.room)
	return out
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
