package delivery

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// SenderConfig configures a Sender. Zero fields take the defaults.
type SenderConfig struct {
	// MaxPending bounds the messages sent and not yet acknowledged
	// (default 1024), MaxBytes their encoded bytes (default 64 MiB):
	// beyond either, Send waits for room (backpressure). A message
	// larger than MaxBytes is refused.
	MaxPending int
	MaxBytes   int64
	// AckTimeout bounds one attempt: a message whose acknowledgement has
	// not come by then is sent again (the receiving side acknowledges a
	// resend of a message it is still handling once that is done).
	// Default 5 s.
	AckTimeout time.Duration
	// MinBackoff and MaxBackoff space the attempts after a failure: the
	// wait doubles from MinBackoff up to MaxBackoff. Defaults 10 ms and
	// 1 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxAge, if set, bounds how long a message is tried from its Send:
	// then its Receipt fails with DeadlineExceeded (cause ErrExpired).
	// Default none: a message is tried until acknowledged or Close,
	// which keeps its room taken meanwhile if its peer never answers (a
	// host.Client whose restarts ran out, a message too large for the
	// link: RESOURCE_EXHAUSTED is taken as a full link, which passes).
	MaxAge time.Duration
	// OnAck, if set, is called once for each message when it is
	// acknowledged (err nil) or given up on (as Receipt.Err), on the
	// message's goroutine, after its Receipt is done. The message's room
	// is given back before, so a slow OnAck delays only the Close that
	// waits for it.
	OnAck func(id string, err error)
}

// Defaults of SenderConfig.
const (
	DefaultMaxPending = 1024
	DefaultMaxBytes   = 64 << 20
	DefaultAckTimeout = 5 * time.Second
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = time.Second
)

func (c SenderConfig) withDefaults() SenderConfig {
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(c.MinBackoff, DefaultMaxBackoff)
	}
	return c
}

var (
	// ErrClosed is the cause of the status of a message given up on
	// because its Sender closed, and of a Send after Close.
	ErrClosed = errors.New("delivery: sender closed")
	// ErrExpired is the cause of the status of a message given up on
	// because SenderConfig.MaxAge passed.
	ErrExpired = errors.New("delivery: message not acknowledged within its maximum age")
)

// Sender sends acknowledged notifications over a Conn and resends each
// until the receiving side acknowledges it. See the package comment.
type Sender struct {
	conn  session.Conn
	cfg   SenderConfig
	epoch string // this Sender's random prefix of its message IDs
	seq   atomic.Uint64

	// ctx ends every attempt and backoff when Close gives up on the
	// pending messages.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per pending message

	mu      sync.Mutex
	closed  bool
	pending int
	bytes   int64
	room    chan struct{} // closed and replaced when room is given back (to waiters) or the Sender closes
	waiters int           // Sends waiting on room: without any, release replaces no channel

	queued, attempts, acked, failed atomic.Uint64
}

// NewSender returns a Sender that sends over conn (a host.Client, a
// *session.Session, or any Conn whose peer serves Service).
func NewSender(conn session.Conn, cfg SenderConfig) *Sender {
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{conn: conn, cfg: cfg.withDefaults(), epoch: newEpoch(),
		ctx: ctx, cancel: cancel, room: make(chan struct{})}
}

// newEpoch returns 64 random bits in hex: with a sequence number after
// it, message IDs stay unique across the sender's restarts (a restarted
// sender's sequence starts again) without anything kept between them.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's documented contract)
	return fmt.Sprintf("%016x", binary.BigEndian.Uint64(b[:]))
}

// message is one pending message.
type message struct {
	r       *Receipt
	payload []byte
	md      plexus.Metadata
	queued  time.Time
}

// Send queues m, an acknowledged notification for method (a notification
// the receiving side registered), and returns its Receipt; the Sender
// sends it, and resends it until acknowledged, in the background. m is
// encoded before Send returns, so the caller may reuse it. The outgoing
// metadata of ctx (plexus.WithMetadata) goes with the message, as with
// Notify. While MaxPending messages or MaxBytes are pending, Send waits
// for room within ctx, and fails with the status of ctx if none comes.
func (s *Sender) Send(ctx context.Context, method uint64, m plexus.Marshaler) (*Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, plexus.WithCause(plexus.CodeOf(err), err, "delivery: "+err.Error())
	}
	var payload []byte
	if m != nil {
		b, err := m.MarshalMsg(make([]byte, 0, m.Msgsize()))
		if err != nil {
			return nil, plexus.WithCause(plexus.Internal, err, "delivery: encoding the message: "+err.Error())
		}
		payload = b
	}
	n := int64(len(payload))
	if n > s.cfg.MaxBytes {
		return nil, plexus.Errorf(plexus.ResourceExhausted,
			"delivery: message of %d bytes exceeds SenderConfig.MaxBytes (%d)", n, s.cfg.MaxBytes)
	}
	if err := s.reserve(ctx, n); err != nil {
		return nil, err
	}
	id := s.epoch + "-" + strconv.FormatUint(s.seq.Add(1), 10)
	out := plexus.OutgoingMetadata(ctx)
	md := make(plexus.Metadata, len(out)+2)
	for k, v := range out {
		md[k] = v
	}
	md[MetadataID] = id
	md[MetadataMethod] = strconv.FormatUint(method, 16)
	msg := &message{r: &Receipt{id: id, done: make(chan struct{})}, payload: payload, md: md, queued: time.Now()}
	s.queued.Add(1)
	go s.deliver(msg)
	return msg.r, nil
}

// reserve takes room for a message of n bytes, waiting within ctx, and
// counts the message's goroutine in wg (under mu, so that Close, once it
// has marked the Sender closed, waits for every message that got room).
func (s *Sender) reserve(ctx context.Context, n int64) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return plexus.WithCause(plexus.Canceled, ErrClosed, "delivery: sender closed")
		}
		if s.pending < s.cfg.MaxPending && s.bytes+n <= s.cfg.MaxBytes {
			s.pending++
			s.bytes += n
			s.wg.Add(1)
			s.mu.Unlock()
			return nil
		}
		room, pending, bytes := s.room, s.pending, s.bytes
		s.waiters++
		s.mu.Unlock()
		select {
		case <-room:
			s.unwait()
		case <-ctx.Done():
			s.unwait()
			return plexus.WithCause(plexus.CodeOf(ctx.Err()), ctx.Err(), fmt.Sprintf(
				"delivery: no room for the message (%d messages, %d bytes pending; SenderConfig.MaxPending %d, MaxBytes %d): %v",
				pending, bytes, s.cfg.MaxPending, s.cfg.MaxBytes, ctx.Err()))
		}
	}
}

func (s *Sender) unwait() {
	s.mu.Lock()
	s.waiters--
	s.mu.Unlock()
}

// release gives back a finished message's room and wakes the Sends
// waiting for it.
func (s *Sender) release(n int64) {
	s.mu.Lock()
	s.pending--
	s.bytes -= n
	if s.waiters > 0 {
		s.wakeLocked()
	}
	s.mu.Unlock()
}

func (s *Sender) wakeLocked() {
	close(s.room)
	s.room = make(chan struct{})
}

// deliver is a message's goroutine: it tries the message until it is
// acknowledged or given up on, then settles its receipt.
func (s *Sender) deliver(msg *message) {
	defer s.wg.Done()
	err := s.try(msg)
	if err == nil {
		s.acked.Add(1)
	} else {
		s.failed.Add(1)
	}
	s.release(int64(len(msg.payload)))
	msg.r.err = err
	close(msg.r.done)
	if s.cfg.OnAck != nil {
		s.cfg.OnAck(msg.r.id, err)
	}
}

// try sends msg until acknowledged and returns nil, or returns why it
// gave up.
func (s *Sender) try(msg *message) error {
	ctx := plexus.WithMetadata(s.ctx, msg.md)
	var expiry time.Time
	if s.cfg.MaxAge > 0 {
		expiry = msg.queued.Add(s.cfg.MaxAge)
	}
	backoff := s.cfg.MinBackoff
	for n := 1; ; n++ {
		timeout := s.cfg.AckTimeout
		if !expiry.IsZero() {
			timeout = min(timeout, time.Until(expiry))
		}
		s.attempts.Add(1)
		err := s.attempt(ctx, msg, timeout)
		switch {
		case err == nil:
			return nil
		case s.ctx.Err() != nil:
			return s.closedErr(msg, n, err)
		case permanent(err):
			return plexus.WithCause(plexus.CodeOf(err), err, fmt.Sprintf("delivery: message %s refused: %v", msg.r.id, err))
		}
		wait := backoff
		backoff = min(2*backoff, s.cfg.MaxBackoff)
		if !expiry.IsZero() {
			left := time.Until(expiry)
			if left <= 0 {
				return s.expiredErr(msg, n, err)
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return s.closedErr(msg, n, err)
		}
		if !expiry.IsZero() && !time.Now().Before(expiry) {
			return s.expiredErr(msg, n, err)
		}
	}
}

// attempt sends msg once and waits up to timeout for its
// acknowledgement. The timeout is the sender's own, not the call's
// deadline: a deadline would travel with the call and cost the receiving
// side a timer per message, while a call given up on is cancelled there
// all the same (RESET), and the handler's context is not the call's.
func (s *Sender) attempt(ctx context.Context, msg *message, timeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	t := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		cancel()
	})
	err := s.conn.Invoke(ctx, DeliverMethod, plexus.Raw(msg.payload), nil)
	t.Stop()
	cancel()
	if err != nil && timedOut.Load() {
		return plexus.WithCause(plexus.DeadlineExceeded, err, fmt.Sprintf("no acknowledgement within %v", timeout))
	}
	return err
}

// permanent reports whether the receiving side's answer to a Deliver
// call is one that sending the same message again cannot change: it does
// not serve acknowledged delivery or the message's notification
// (UNIMPLEMENTED), or it found the call malformed (INVALID_ARGUMENT).
// Everything else (the peer died or is restarting, the link is full, an
// attempt timed out, a handler panicked) may pass, and is tried again.
func permanent(err error) bool {
	switch plexus.CodeOf(err) {
	case plexus.Unimplemented, plexus.InvalidArgument:
		return true
	}
	return false
}

func (s *Sender) closedErr(msg *message, attempts int, last error) error {
	return plexus.WithCause(plexus.Canceled, ErrClosed, fmt.Sprintf(
		"delivery: sender closed before message %s was acknowledged (%d attempts; it may have been handled; last: %v)",
		msg.r.id, attempts, last))
}

func (s *Sender) expiredErr(msg *message, attempts int, last error) error {
	return plexus.WithCause(plexus.DeadlineExceeded, ErrExpired, fmt.Sprintf(
		"delivery: message %s not acknowledged within SenderConfig.MaxAge %v (%d attempts; it may have been handled; last: %v)",
		msg.r.id, s.cfg.MaxAge, attempts, last))
}

// Close stops the Sender: Send fails from now on (ErrClosed), the pending
// messages are given time within ctx to be acknowledged, and those still
// pending when ctx ends are given up on, their receipts failing with
// ErrClosed. It returns once every message's goroutine has ended: nil if
// every message was settled within ctx, otherwise the status of ctx
// saying how many were given up. Close may be called more than once.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.wakeLocked() // Sends waiting for room fail now
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	left := s.pending
	s.mu.Unlock()
	if left == 0 { // settled already; only their OnAck may still run
		<-done
		return nil
	}
	s.cancel()
	<-done // each attempt and backoff ends with s.ctx
	return plexus.WithCause(plexus.CodeOf(ctx.Err()), ErrClosed, fmt.Sprintf(
		"delivery: sender closed with %d messages not acknowledged: %v", left, ctx.Err()))
}

// SenderStats are a Sender's counts.
type SenderStats struct {
	// Pending messages (sent and not yet settled) and their bytes.
	Pending      int
	PendingBytes int64
	// Queued is the messages Send accepted; Attempts the Deliver calls
	// made for them (more than Queued when some were resent); Acked and
	// Failed those settled either way.
	Queued, Attempts, Acked, Failed uint64
}

// Stats returns the Sender's counts.
func (s *Sender) Stats() SenderStats {
	s.mu.Lock()
	pending, bytes := s.pending, s.bytes
	s.mu.Unlock()
	return SenderStats{Pending: pending, PendingBytes: bytes, Queued: s.queued.Load(),
		Attempts: s.attempts.Load(), Acked: s.acked.Load(), Failed: s.failed.Load()}
}
