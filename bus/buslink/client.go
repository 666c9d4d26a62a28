package buslink

import (
	"context"
	"io"
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

// SubscribeWindow is a subscription stream's receive window
// (session.WithRecvWindow): what the host may send before the subscriber
// has read it. Four times the session's default, so that a stream of
// small messages costs a credit frame every 128 KiB (not every 32 KiB)
// and the host's pump rarely waits for one: plexus bench
// bus_fanout1_msgs_per_sec, 3.5 against 4.1 M/s (BENCHMARKS.md).
const SubscribeWindow = 256 << 10

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
	st, err := c.conn.NewStream(session.WithRecvWindow(ctx, SubscribeWindow), SubscribeMethod, req, false)
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
		in: newInbound(), closing: make(chan struct{}), ended: make(chan struct{})}
	s.batch.sub = s
	if opts.Queue != "" {
		s.acks = newAcker(st)
		go s.acks.run()
	}
	go s.read()
	return s, nil
}
