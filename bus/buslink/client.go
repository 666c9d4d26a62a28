package buslink

import (
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/session"
)

// UnsubscribeTimeout bounds how long Unsubscribe waits for the host to
// confirm the end of the subscription before it abandons the stream.
const UnsubscribeTimeout = 10 * time.Second

// Client reaches a bus served on the other side of conn (Register): a
// plugin's session.Conn to its host (plugin.ServeConfig.OnLink), or any
// other. It holds nothing but conn and is safe for concurrent use.
type Client struct {
	conn session.Conn
}

// NewClient returns a client that calls through conn.
func NewClient(conn session.Conn) *Client { return &Client{conn: conn} }

// Publish publishes msg on the remote bus and returns what it reached
// there. As bus.Publish, it takes ownership of msg: msg.Payload, if set,
// is released once the message has been sent (or failed to be), exactly
// once. It waits, within ctx, for room in the remote Block subscriptions
// that were full.
//
// Data longer than LargeData is sealed first, when the conn can seal
// (a *session.Session: Session.Seal, on shared memory a sealed memfd):
// that is its one copy, and the host and every subscriber on the machine
// then read those pages in place (PublishLarge).
func (c *Client) Publish(ctx context.Context, msg *bus.Message) (bus.PublishResult, error) {
	req, err := request(msg)
	if err != nil {
		return bus.PublishResult{}, err
	}
	if len(msg.Data) > LargeData {
		res, err := c.publishLarge(ctx, req)
		release(msg)
		return res, err
	}
	var res publishResult
	err = c.conn.Invoke(ctx, PublishMethod, req, &res)
	release(msg)
	if err != nil {
		return bus.PublishResult{}, err
	}
	return res.res, nil
}

// PublishAsync publishes msg as a notification: no result, no error from
// the remote bus (the host's Config.OnAsyncError sees them), and in the
// order sent with the other notifications of the link. Large Data is
// copied into the notification as any (Publish sends it sealed). It returns once
// the message is sent; a full link makes it wait, within ctx. It takes
// ownership of msg as Publish does.
func (c *Client) PublishAsync(ctx context.Context, msg *bus.Message) error {
	req, err := request(msg)
	if err != nil {
		return err
	}
	err = c.conn.Notify(ctx, PublishAsyncMethod, req)
	release(msg)
	return err
}

// sealer is a conn that can place bytes in memory its transport sends by
// reference (*session.Session).
type sealer interface {
	Seal(p []byte) (sealed []byte, release func(), err error)
}

// publishLarge sends req's data sealed (if the conn can seal) as the
// second message of a PublishLarge stream, alone, so that it crosses by
// reference; the seal is released once it is sent.
func (c *Client) publishLarge(ctx context.Context, req *publishRequest) (bus.PublishResult, error) {
	data, done := req.data, func() {}
	if sl, ok := c.conn.(sealer); ok {
		sealed, rel, err := sl.Seal(data)
		if err != nil {
			return bus.PublishResult{}, err
		}
		data, done = sealed, rel
	}
	defer done()
	st, err := c.conn.NewStream(ctx, PublishLargeMethod, &largeRequest{subject: req.subject, header: req.header, size: uint64(len(data)), typ: req.typ}, false)
	if err != nil {
		return bus.PublishResult{}, err
	}
	defer st.Close() // a no-op once the call has ended
	// io.EOF: the handler returned already; Recv says how. No CloseSend:
	// its frame would wait for the window the data spent, which the host
	// gives back only once its bus has released the data, long after the
	// call. The handler reads two messages and ends the call.
	if err := st.Send(plexus.Raw(data)); err != nil && err != io.EOF {
		return bus.PublishResult{}, err
	}
	var res publishResult
	if err := recvInto(st, &res); err != nil {
		if err == io.EOF {
			err = plexus.Errorf(plexus.Internal, "buslink: PublishLarge returned no result")
		}
		return bus.PublishResult{}, err
	}
	if err := st.Recv(nil); err != io.EOF {
		if err == nil {
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: PublishLarge returned more than a result")
		}
		return bus.PublishResult{}, err
	}
	return res.res, nil
}

func request(msg *bus.Message) (*publishRequest, error) {
	if msg == nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: nil message")
	}
	err := bus.ValidateSubject(msg.Subject)
	if err == nil {
		err = checkHeader(msg.Header)
	}
	if err != nil {
		release(msg)
		return nil, err
	}
	return &publishRequest{subject: msg.Subject, header: msg.Header, data: msg.Data, typ: msg.Type}, nil
}

func release(msg *bus.Message) {
	if msg.Payload != nil {
		msg.Payload.Release()
	}
}

// Subscribe subscribes to pattern on the remote bus with opts, as
// bus.Bus.Subscribe does there, and returns once the remote subscription
// exists: a message published on the remote bus after Subscribe returns
// reaches it. The subscription lives until Unsubscribe, ctx's end, the
// link's end, or its end on the remote bus (overflow End, the bus's
// Close), and holds a goroutine (two for a queue member) until then.
func (c *Client) Subscribe(ctx context.Context, pattern string, opts bus.SubOptions) (*Subscription, error) {
	req := &subscribeRequest{pattern: pattern, opts: opts}
	if err := req.check(); err != nil {
		return nil, err
	}
	st, err := c.conn.NewStream(ctx, SubscribeMethod, req, false)
	if err != nil {
		return nil, err
	}
	var ok subscribed
	if err := recvInto(st, &ok); err != nil {
		st.Close()
		if err == io.EOF {
			err = plexus.Errorf(plexus.Internal, "buslink: the subscription ended before it was confirmed")
		}
		return nil, err
	}
	s := &Subscription{st: st, id: ok.id, pattern: pattern, queue: opts.Queue,
		deliveries: make(chan *Delivery), closing: make(chan struct{}), ended: make(chan struct{})}
	if opts.Queue != "" {
		s.acks = newAcker(st)
		go s.acks.run()
	}
	go s.read()
	return s, nil
}

// Subscription is a subscription on a remote bus. Its methods are safe for
// concurrent use.
type Subscription struct {
	st      *session.Stream
	id      uint64
	pattern string
	queue   string
	acks    *acker // queue members only

	deliveries chan *Delivery
	closing    chan struct{} // closed by Unsubscribe
	unsubOnce  sync.Once
	ended      chan struct{} // closed when the stream has ended
	err        error         // set before ended is closed

	// The reading goroutine's own: the record each delivery is decoded
	// into, and the inbox that carries it through Recv, kept so that
	// neither is allocated per message.
	rec delivery
	in  inbox
	// subject is the last delivery's, validated: the next, when equal,
	// shares its string (see internString).
	subject string
}

// ID is the subscription's ID on the remote bus.
func (s *Subscription) ID() uint64 { return s.id }

// Pattern is the pattern subscribed to.
func (s *Subscription) Pattern() string { return s.pattern }

// Queue is the queue group's name, or "".
func (s *Subscription) Queue() string { return s.queue }

// Ended is closed when the subscription has ended; Err then says why.
func (s *Subscription) Ended() <-chan struct{} { return s.ended }

// Err is nil while the subscription lives, then its status: CANCELED
// after Unsubscribe or ctx's end, the remote bus's status
// (RESOURCE_EXHAUSTED for overflow End, UNAVAILABLE for its Close),
// PEER_DIED or LINK_CLOSED when the link ended.
func (s *Subscription) Err() error {
	select {
	case <-s.ended:
		return s.err
	default:
		return nil
	}
}

// Next returns the next delivery, waiting for one within ctx. Once the
// subscription has ended (or Unsubscribe was called) it returns its
// status. The caller calls Done on each delivery it gets.
func (s *Subscription) Next(ctx context.Context) (*Delivery, error) {
	select {
	case <-s.closing:
		return nil, errUnsubscribed(s.pattern)
	default:
	}
	// A delivery the reader is offering already, without the full
	// select's cost.
	select {
	case d := <-s.deliveries:
		return d, nil
	default:
	}
	select {
	case d := <-s.deliveries:
		return d, nil
	case <-s.ended:
		return nil, s.err
	case <-s.closing:
		return nil, errUnsubscribed(s.pattern)
	case <-ctx.Done():
		err := ctx.Err()
		return nil, plexus.WithCause(plexus.CodeOf(err), err, "buslink: waiting for a message: "+err.Error())
	}
}

// Consume calls fn with each delivery in order, on the caller's
// goroutine, and marks it Done when fn returns nil, as
// bus.Subscription.Consume does. It returns when ctx ends, the
// subscription ends (its status), or fn fails (fn's error; the delivery
// is then not Done: a queue member's goes to the rest of its group when
// the subscription ends).
func (s *Subscription) Consume(ctx context.Context, fn func(*Delivery) error) error {
	return bus.ConsumeWith(ctx, s.Next, fn)
}

// Unsubscribe ends the subscription: it sends the acknowledgements of the
// deliveries Done so far, ends its side of the stream, and waits (at most
// UnsubscribeTimeout) for the host to end the bus subscription. A queue
// member's deliveries not Done by then go to the rest of its group; their
// Done fails. It is idempotent.
func (s *Subscription) Unsubscribe() {
	s.unsubOnce.Do(func() {
		close(s.closing)
		if s.acks != nil {
			s.acks.stop()
		}
		if s.st.CloseSend() != nil {
			s.st.Close()
		}
		t := time.AfterFunc(UnsubscribeTimeout, s.st.Close)
		<-s.ended
		t.Stop()
	})
}

// read receives the host's deliveries and hands them to Next, one at a
// time, so that the stream's flow control holds back the host's pump
// while the consumer is slow; it discards them after Unsubscribe.
func (s *Subscription) read() {
	for {
		d, err := s.recv()
		if err != nil {
			s.finish(err)
			return
		}
		// A consumer waiting in Next already takes it without the full
		// select's cost.
		select {
		case s.deliveries <- d:
			continue
		default:
		}
		select {
		case s.deliveries <- d:
			continue
		case <-s.closing:
		case <-s.st.Context().Done(): // Recv reports the end next
		}
		d.release()
	}
}

// recv receives one delivery: its record and, for large data, the data
// that follows it, as a view of its frame (a *session.Lease) that Done
// releases.
func (s *Subscription) recv() (*Delivery, error) {
	m := &s.rec
	*m = delivery{prev: s.subject}
	s.in = inbox{u: m}
	if err := s.st.Recv(&s.in); err != nil {
		return nil, err
	}
	if s.in.err != nil {
		return nil, s.in.err
	}
	s.subject = m.subject // validated
	d := &Delivery{Subject: m.subject, Header: m.header, Data: m.data, Seq: m.seq,
		Redelivered: m.flags&flagRedelivered != 0, Replayed: m.flags&flagReplayed != 0, tag: m.tag, sub: s}
	if m.flags&flagLarge == 0 {
		return d, nil
	}
	l := new(session.Lease)
	if err := s.st.Recv(l); err != nil {
		if err == io.EOF {
			err = plexus.Errorf(plexus.InvalidArgument, "buslink: the host ended the stream before the data of delivery %d", m.tag)
		}
		return nil, err
	}
	if uint64(l.Len()) != m.size {
		l.Release()
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: delivery %d announced %d bytes, the host sent %d", m.tag, m.size, l.Len())
	}
	d.Data, d.lease = l.Bytes(), l
	return d, nil
}

// finish records why the stream ended. A malformed message from the host
// abandons the call.
func (s *Subscription) finish(err error) {
	if _, ok := err.(*plexus.Status); ok && plexus.CodeOf(err) == plexus.InvalidArgument {
		s.st.Close()
	}
	select {
	case <-s.closing:
		err = errUnsubscribed(s.pattern)
	default:
		if err == io.EOF {
			err = plexus.Errorf(plexus.Canceled, "buslink: the host ended the subscription to %q", s.pattern)
		}
	}
	s.err = err
	if s.acks != nil {
		s.acks.stop()
	}
	close(s.ended)
}

func errUnsubscribed(pattern string) error {
	return plexus.Errorf(plexus.Canceled, "buslink: unsubscribed from %q", pattern)
}

// Delivery is one message as a remote subscription receives it. Its
// fields are the subscriber's own copies, but for Data longer than
// LargeData: a read-only view of the frame it arrived in (on shared
// memory, the publisher's sealed memory when it was sealed), valid until
// Done, which releases it (on a goroutine of its own, see Done). Until
// it is released the frame holds the stream's flow-control window: with
// the default window (64 KiB) the next delivery waits for the release of
// a large one.
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

	tag   uint64
	sub   *Subscription
	lease *session.Lease // large Data's frame, until Done
	done  atomic.Bool
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
