package buslink

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/session"
)

// DefaultMaxBuffer is Config.MaxBuffer's default.
const DefaultMaxBuffer = 1 << 16

// Config configures the serving side.
type Config struct {
	// MaxBuffer bounds the SubOptions.Buffer a peer may ask for: a
	// subscription holds up to Buffer messages of the host's memory.
	// A larger request is refused with INVALID_ARGUMENT.
	// DefaultMaxBuffer if zero.
	MaxBuffer int
	// OnAsyncError, if set, is called with the error of each
	// PublishAsync that failed (malformed, refused by the bus, its wait
	// given up): a notification has no one to answer. It runs on the
	// session's notification goroutine; it must not block.
	OnAsyncError func(error)
}

// Register serves b on mux under ServiceName, with the default Config,
// and describes the service there (ServiceDesc), so that a plugin that
// declares it in plugin.ServeConfig.HostServices is checked at link time.
// Like all registration, it comes before the session that serves mux
// starts (host.Config.HostServices is served to every plugin of a host;
// one Register serves them all).
func Register(mux *session.Mux, b *bus.Bus) error {
	return RegisterConfig(mux, b, Config{})
}

// RegisterConfig is Register with a Config.
func RegisterConfig(mux *session.Mux, b *bus.Bus, cfg Config) error {
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	s := &server{bus: b, cfg: cfg}
	if _, err := mux.HandleUnary(ServiceName, "Publish", s.publish); err != nil {
		return err
	}
	if _, err := mux.HandleNotify(ServiceName, "PublishAsync", s.publishAsync); err != nil {
		return err
	}
	if _, err := mux.HandleStream(ServiceName, "PublishLarge", s.publishLarge); err != nil {
		return err
	}
	if _, err := mux.HandleStream(ServiceName, "Subscribe", s.subscribe); err != nil {
		return err
	}
	return mux.Describe(ServiceDesc)
}

type server struct {
	bus *bus.Bus
	cfg Config
}

// publish serves Publish: the bus keeps the message past the handler,
// so its data is copied out of the request.
func (s *server) publish(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	var m publishRequest
	if err := m.decode(req, true); err != nil {
		return nil, err
	}
	res, err := s.bus.Publish(ctx, &bus.Message{Subject: m.subject, Header: m.header, Data: m.data, Type: m.typ})
	if err != nil {
		return nil, err
	}
	return &publishResult{res: res}, nil
}

func (s *server) publishAsync(ctx context.Context, msg []byte) {
	var m publishRequest
	err := m.decode(msg, true)
	if err == nil {
		_, err = s.bus.Publish(ctx, &bus.Message{Subject: m.subject, Header: m.header, Data: m.data, Type: m.typ})
	}
	if err != nil && s.cfg.OnAsyncError != nil {
		s.cfg.OnAsyncError(err)
	}
}

// publishLarge serves PublishLarge: the record, then the data, received
// as a view (a *session.Lease holds its frame) that the bus shares with
// its deliveries and releases after the last one. Data in sealed memory
// (a one-shot blob on shared memory, which a Client's seal arrives as)
// thus reaches the host's subscribers in place, and the other plugins by
// reference: the pumps send the same bytes.
func (s *server) publishLarge(ctx context.Context, st *session.Stream) error {
	var req largeRequest
	if err := recvInto(st, &req); err != nil {
		if err == io.EOF {
			return plexus.Errorf(plexus.InvalidArgument, "buslink: PublishLarge without a request")
		}
		return err
	}
	data := new(session.Lease)
	if err := st.Recv(data); err != nil {
		if err == io.EOF {
			return plexus.Errorf(plexus.InvalidArgument, "buslink: PublishLarge of %q without its data", req.subject)
		}
		return err
	}
	if uint64(data.Len()) != req.size {
		data.Release()
		return plexus.Errorf(plexus.InvalidArgument, "buslink: PublishLarge of %q announced %d bytes, sent %d", req.subject, req.size, data.Len())
	}
	res, err := s.bus.Publish(ctx, &bus.Message{Subject: req.subject, Header: req.header, Data: data.Bytes(), Payload: data, Type: req.typ})
	if err != nil {
		return err
	}
	return st.Send(&publishResult{res: res})
}

// subscribe serves one Subscribe stream: a bus subscription made with
// the handler's context, so that the caller's cancellation, its Close
// and the link's death end it (a queue member's unacknowledged messages
// then go to the rest of its group). The handler's goroutine pumps
// deliveries; another reads the acknowledgements.
func (s *server) subscribe(ctx context.Context, st *session.Stream) error {
	var req subscribeRequest
	if err := recvInto(st, &req); err != nil {
		if err == io.EOF {
			return plexus.Errorf(plexus.InvalidArgument, "buslink: Subscribe without a request")
		}
		return err
	}
	if req.opts.Buffer > s.cfg.MaxBuffer {
		return plexus.Errorf(plexus.InvalidArgument, "buslink: Buffer %d exceeds the host's MaxBuffer %d", req.opts.Buffer, s.cfg.MaxBuffer)
	}
	sub, err := s.bus.Subscribe(ctx, req.pattern, req.opts)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if sess := session.FromContext(ctx); sess != nil {
		go endWhenGoingAway(ctx, sess, sub)
	}
	p := &pump{sub: sub, st: st, queue: req.opts.Queue != "", inflight: map[uint64]*bus.Delivery{}, low: 1}
	p.out.reset()
	if !p.queue && req.opts.Overflow != bus.DropOldest {
		// DropOldest needs its messages buffered, to drop the oldest.
		p.sink, p.takeSunk = new(sink), p.takeLocked
		if err := sub.SetSink(p.sink); err != nil {
			return err
		}
	}
	if err := st.Send(&subscribed{id: sub.ID()}); err != nil {
		return err
	}
	// Before the reader starts: Recv reads the mode without a lock.
	if err := st.Buffer(true); err != nil {
		return err
	}
	go p.readAcks()
	return p.run(ctx)
}

// endWhenGoingAway ends sub with UNAVAILABLE once the host's session
// goes away (GoAway, or Drain, which host.Client.Close does): a
// subscription lasts as long as the link otherwise, and would hold a
// draining link open until its deadline. A queue member's messages in
// flight go to the rest of its group, as at any end. It returns when ctx
// (the handler's) ends, at the latest.
func endWhenGoingAway(ctx context.Context, sess *session.Session, sub *bus.Subscription) {
	select {
	case <-sess.GoingAway():
		sub.Kill(plexus.Errorf(plexus.Unavailable, "buslink: the host is closing the link; subscription to %q ended", sub.Pattern()))
	case <-ctx.Done():
	}
}

// pump feeds one bus subscription into its stream.
type pump struct {
	sub   *bus.Subscription
	st    *session.Stream
	queue bool
	// unsubscribed: the subscriber ended its side (CloseSend), the clean
	// end of the subscription.
	unsubscribed atomic.Bool

	// sink, if not nil, encodes the fan-out subscription's messages on
	// the publishers' goroutines (sink.go); the pump sends its batches,
	// taking each with takeSunk (takeLocked, made once) into inHand, and
	// giving back the ones sent.
	sink     *sink
	takeSunk func() int
	inHand   *batchBuf
	spent    []*batchBuf

	// The pump's goroutine's own: a fan-out subscription's deliveries
	// as TakeBatch fills them, the deliveries taken (pointers into taken,
	// or a queue member's from TryNext), and the batch built of them
	// (Send copies it before it returns).
	taken [MaxBatch]bus.Delivery
	ds    []*bus.Delivery
	out   batchBuf

	mu       sync.Mutex
	sent     uint64                   // tags sent: 1..sent
	low      uint64                   // every tag below it is acknowledged
	inflight map[uint64]*bus.Delivery // queue members: sent, not acknowledged
}

// run sends deliveries as fast as flow control lets it: what the
// subscription has ready goes in batches, and the stream's packed frames
// are flushed whenever its buffer runs dry. The buffered messages are
// taken first and the sink's sent first (bus.Subscription.SetSink gives
// the order). It returns nil after the subscriber's unsubscribe, else
// the status the subscription ended with.
func (p *pump) run(ctx context.Context) error {
	for {
		err := p.take()
		sunk := 0
		if p.sink != nil {
			var serr error
			if sunk, serr = p.sendSunk(); serr != nil {
				p.doneAll(p.ds)
				return serr
			}
		}
		if len(p.ds) == 0 && sunk == 0 && err == nil {
			if err = p.st.Flush(); err == nil {
				err = p.sub.Wait(ctx)
			}
			if err == nil {
				continue
			}
		}
		if err != nil {
			if p.unsubscribed.Load() {
				return nil
			}
			return err
		}
		if err := p.sendAll(); err != nil {
			return err
		}
	}
}

// take puts in p.ds what the subscription has ready, up to MaxBatch: a
// fan-out subscription's in one TakeBatch, without allocating; a queue
// member's one by one (each stays in flight, by pointer, until its ack).
// The error is the subscription's end, once nothing is left.
func (p *pump) take() error {
	p.ds = p.ds[:0]
	if !p.queue {
		n, err := p.sub.TakeBatch(p.taken[:])
		for i := range n {
			p.ds = append(p.ds, &p.taken[i])
		}
		return err
	}
	for len(p.ds) < MaxBatch {
		d, err := p.sub.TryNext()
		if d == nil {
			if len(p.ds) > 0 {
				return nil
			}
			return err
		}
		p.ds = append(p.ds, d)
	}
	return nil
}

// sendAll sends p.ds in batches of about batchBytes, a large delivery
// closing its batch. When a send fails, the fan-out deliveries not sent
// are Done all the same (the bus releases their payloads).
func (p *pump) sendAll() error {
	ds := p.ds
	for len(ds) > 0 {
		n, size, large := 0, 0, false
		for n < len(ds) && size < batchBytes && !large {
			large = len(ds[n].Data) > LargeData
			size += len(ds[n].Subject) + len(ds[n].Data) + 32
			n++
		}
		if err := p.send(ds[:n], large); err != nil {
			p.doneAll(ds[n:])
			return err
		}
		ds = ds[n:]
	}
	clear(p.ds)
	return nil
}

// doneAll marks fan-out deliveries Done that will not be sent (the bus
// releases their payloads); a queue member's stay in flight.
func (p *pump) doneAll(ds []*bus.Delivery) {
	if !p.queue {
		for _, d := range ds {
			_ = d.Done()
		}
	}
}

// sendSunk sends the batches the sink holds, oldest first, until it
// holds none, and returns how many records they held. It takes each
// under the subscription's mutex (takeSunk), which lets the bus count
// them out of the subscription's Buffer, so that a publisher waiting for
// room (Block) goes on while the batch is sent.
func (p *pump) sendSunk() (int, error) {
	n := 0
	for {
		p.sub.TakeSunk(p.takeSunk)
		bb := p.inHand
		if bb == nil {
			return n, nil
		}
		p.inHand = nil
		err := p.st.Send(plexus.Raw(bb.frame(p.claim(bb.n))))
		n += bb.n
		p.spent = append(p.spent, bb)
		if err != nil {
			return n, err
		}
	}
}

// takeLocked is sendSunk's take, run under the subscription's mutex: the
// sink's oldest batch into inHand, the batches sent given back.
func (p *pump) takeLocked() int {
	bb := p.sink.takeLocked(p.spent)
	clear(p.spent)
	p.spent = p.spent[:0]
	p.inHand = bb
	if bb == nil {
		return 0
	}
	return bb.n
}

// claim numbers n deliveries about to be sent and returns the first tag.
func (p *pump) claim(n int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	first := p.sent + 1
	p.sent += uint64(n)
	return first
}

// send sends one batch. A fan-out delivery is Done once its bytes are in
// the stream (the send copies them, or, for large data in sealed
// memory, hands the transport a reference that outlives the bus's); a
// queue member's stays in flight until the subscriber acknowledges its
// tag. Large data (of the last delivery only) follows the batch as a
// message of its own (Raw alone reaches the transport as it is).
func (p *pump) send(ds []*bus.Delivery, large bool) error {
	first := p.claim(len(ds))
	if p.queue {
		p.mu.Lock()
		for i, d := range ds {
			p.inflight[first+uint64(i)] = d
		}
		p.mu.Unlock()
	}
	bb := &p.out
	bb.reset()
	last := ds[len(ds)-1]
	for i, d := range ds {
		r := delivery{seq: d.Seq, subject: d.Subject, header: d.Header, data: d.Data}
		if d.Redelivered {
			r.flags |= flagRedelivered
		}
		if d.Replayed {
			r.flags |= flagReplayed
		}
		if large && i == len(ds)-1 {
			r.data, r.size = nil, uint64(len(last.Data))
			r.flags |= flagLarge
		}
		bb.add(&r)
	}
	err := p.st.Send(plexus.Raw(bb.frame(first)))
	if err == nil && large {
		err = p.st.Send(plexus.Raw(last.Data))
	}
	p.doneAll(ds)
	return err
}

// readAcks reads the subscriber's messages until its side ends: acks, and
// CloseSend (io.EOF), which unsubscribes. A malformed or impossible ack
// kills the subscription with INVALID_ARGUMENT, which the pump returns.
// It returns when the call ends, at the latest once the handler has
// returned (its context is then cancelled).
func (p *pump) readAcks() {
	var a ack
	for {
		in := inbox{u: &a}
		if err := p.st.Recv(&in); err != nil {
			if err == io.EOF {
				p.unsubscribed.Store(true)
				p.sub.Unsubscribe()
			}
			return
		}
		err := in.err
		if err == nil {
			err = p.ack(&a)
		}
		if err != nil {
			p.sub.Kill(err)
			return
		}
	}
}

// ack marks the acknowledged deliveries Done. A tag acknowledged twice is
// ignored; one never sent is a protocol error. Done fails for the
// deliveries of a member that ended meanwhile: they went to another
// member.
func (p *pump) ack(a *ack) error {
	if !p.queue {
		return plexus.Errorf(plexus.InvalidArgument, "buslink: ack on a subscription without a queue group")
	}
	var done []*bus.Delivery
	p.mu.Lock()
	if a.upTo > p.sent {
		p.mu.Unlock()
		return plexus.Errorf(plexus.InvalidArgument, "buslink: ack up to tag %d, only %d sent", a.upTo, p.sent)
	}
	for ; p.low <= a.upTo; p.low++ {
		done = p.acked(p.low, done)
	}
	for _, t := range a.tags {
		if t == 0 || t > p.sent {
			p.mu.Unlock()
			return plexus.Errorf(plexus.InvalidArgument, "buslink: ack of tag %d, only %d sent", t, p.sent)
		}
		done = p.acked(t, done)
	}
	p.mu.Unlock()
	for _, d := range done {
		_ = d.Done()
	}
	return nil
}

func (p *pump) acked(tag uint64, done []*bus.Delivery) []*bus.Delivery {
	if d, ok := p.inflight[tag]; ok {
		delete(p.inflight, tag)
		done = append(done, d)
	}
	return done
}

// inbox receives a message into u, keeping a decoding error apart from
// the stream's own (which the session would report as INTERNAL).
type inbox struct {
	u   plexus.Unmarshaler
	err error
}

func (in *inbox) UnmarshalMsg(b []byte) ([]byte, error) {
	_, in.err = in.u.UnmarshalMsg(b)
	return nil, nil
}

// recvInto receives one message into u: the stream's error, or the
// message's decoding error.
func recvInto(st *session.Stream, u plexus.Unmarshaler) error {
	in := inbox{u: u}
	if err := st.Recv(&in); err != nil {
		return err
	}
	return in.err
}
