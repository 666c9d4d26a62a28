package session

import (
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/wire"
)

// rawPeer is the initiator end of a link driven frame by frame, for tests
// of what a session does with a hostile peer. Payloads it sends from
// Alloc stay writable by the test after Send, as a slot of the segment
// stays writable by the process that sent it.
type rawPeer struct {
	t  *testing.T
	tr *inproc.Transport
	// rx receives the descriptors of every frame the session sends; a
	// goroutine reads them, so that the session's sends never wait.
	rx chan wire.Desc
}

func newRawPeer(t *testing.T, mux *Mux, cfg Config) (*Session, *rawPeer) {
	return newRawPeerOver(t, mux, cfg, func(tr transport.Transport) transport.Transport { return tr })
}

// newRawPeerOver is newRawPeer with the session's transport wrapped.
func newRawPeerOver(t *testing.T, mux *Mux, cfg Config, wrap func(transport.Transport) transport.Transport) (*Session, *rawPeer) {
	a, b := inproc.Pipe(inproc.Config{})
	cfg.Role, cfg.Mux = Acceptor, mux
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Error, Output: testWriter{t}})
	}
	s := New(wrap(b), cfg)
	p := &rawPeer{t: t, tr: a, rx: make(chan wire.Desc, 1<<16)}
	go func() {
		var f transport.Frame
		for a.Recv(&f) == nil {
			select {
			case p.rx <- f.Desc:
			default: // a test that reads nothing
			}
			a.Release(&f)
		}
		close(p.rx)
	}()
	t.Cleanup(func() { s.Close(); a.Close() })
	return s, p
}

// expect waits (bounded) for the next frame of kind from the session,
// skipping others.
func (p *rawPeer) expect(kind wire.Kind) wire.Desc {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case d, ok := <-p.rx:
			require.True(p.t, ok, "link ended before a frame of kind %d", kind)
			if d.Kind() == kind {
				return d
			}
		case <-timeout:
			p.t.Fatalf("no frame of kind %d within 10s", kind)
		}
	}
}

// send sends one frame whose payload is copied into transport memory, and
// returns that memory.
func (p *rawPeer) send(kind wire.Kind, channel, method uint64, flags uint8, payload []byte) []byte {
	p.t.Helper()
	var d wire.Desc
	newDesc(&d, kind, channel, flags)
	d.SetMethod(method)
	var buf []byte
	if len(payload) > 0 {
		var err error
		buf, err = p.tr.Alloc(len(payload))
		require.NoError(p.t, err)
		copy(buf, payload)
	}
	require.NoError(p.t, p.tr.Send(&d, buf))
	return buf
}

// TestPackedRecordChangedAfterValidation: a packed frame whose record
// length the peer rewrites after the frame was validated on arrival ends
// the link with a protocol violation when the receiver reaches the record,
// rather than slicing past the payload (a panic in Stream.Recv).
func TestPackedRecordChangedAfterValidation(t *testing.T) {
	got1, rewritten := make(chan struct{}), make(chan struct{})
	second := make(chan error, 1)
	mux := NewMux()
	id, err := mux.HandleStream("test.Hostile", "Packed", func(ctx context.Context, st *Stream) error {
		var m plexus.Raw
		if err := st.Recv(&m); err != nil {
			return err
		}
		close(got1)
		<-rewritten
		second <- st.Recv(&m)
		return nil
	})
	require.NoError(t, err)
	s, p := newRawPeer(t, mux, Config{})
	p.send(wire.KindOpen, 1, id, 0, nil)
	// Two records of 4 bytes.
	rec := []byte{4, 0, 'a', 'b', 'c', 'd', 4, 0, 'e', 'f', 'g', 'h'}
	buf := p.send(wire.KindData, 1, 0, wire.FlagMsg|wire.FlagPacked, rec)
	<-got1
	binary.LittleEndian.PutUint16(buf[6:], 0xffff)
	close(rewritten)
	select {
	case err := <-second:
		require.Equal(t, plexus.ProtocolViolation, plexus.CodeOf(err), "%v", err)
		require.ErrorContains(t, err, "packed record")
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return")
	}
	<-s.Done()
	require.Equal(t, plexus.ProtocolViolation, plexus.CodeOf(s.Err()))
}

// TestNotificationFloodBounded: a peer that notifies without regard to
// credit while the handler is stuck gets MaxQueuedNotifications queued
// with their credit given back, then at most a link window more, and then
// breaks the protocol; the queue cannot grow without bound.
func TestNotificationFloodBounded(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int64
	mux := NewMux()
	id, err := mux.HandleNotify("test.Hostile", "Note", func(context.Context, []byte) {
		<-release
		handled.Add(1)
	})
	require.NoError(t, err)
	const queued = 64
	s, p := newRawPeer(t, mux, Config{MaxQueuedNotifications: queued})
	defer close(release)
	payload := make([]byte, 1000)
	const cost = 1000 + wire.DescSize
	sent := 0
	for ; sent < 20000 && s.Err() == nil; sent++ {
		var d wire.Desc
		newDesc(&d, wire.KindNotify, 0, wire.FlagMsg)
		d.SetMethod(id)
		if p.tr.Send(&d, payload) != nil {
			break
		}
		if sent%64 == 0 {
			time.Sleep(time.Millisecond) // let the dispatcher keep up
		}
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("the session still runs after %d notifications with the handler stuck", sent)
	}
	require.Equal(t, plexus.ProtocolViolation, plexus.CodeOf(s.Err()), "%v", s.Err())
	require.ErrorContains(t, s.Err(), "link flow-control window exceeded")
	// queued with their credit back, the 1 MiB window's worth beyond it,
	// and what was in flight when the window ran out.
	limit := queued + DefaultLinkWindow/cost + 2
	require.LessOrEqual(t, sent, limit+64, "notifications accepted before the violation")
	require.Zero(t, handled.Load())
}

// TestNotificationBackpressure: an honest peer that notifies faster than
// the handler runs is slowed down by credit, not cut off: every
// notification arrives and the link stays up.
func TestNotificationBackpressure(t *testing.T) {
	var handled atomic.Int64
	var receiver *Session
	longest := 0 // the longest queue a handler saw behind it
	mux := NewMux()
	id, err := mux.HandleNotify("test.Hostile", "Slow", func(context.Context, []byte) {
		receiver.srv.notes.mu.Lock()
		longest = max(longest, len(receiver.srv.notes.queue))
		receiver.srv.notes.mu.Unlock()
		if handled.Add(1)%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	require.NoError(t, err)
	a, b := inproc.Pipe(inproc.Config{})
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	sender := New(a, Config{Role: Initiator, Logger: log})
	receiver = New(b, Config{Role: Acceptor, Mux: mux, Logger: log, MaxQueuedNotifications: 8})
	t.Cleanup(func() { sender.Close(); receiver.Close() })
	const n = 3000
	msg := plexus.Raw(make([]byte, 2000))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		require.NoError(t, sender.Notify(ctx, id, msg), "notification %d", i)
	}
	require.Eventually(t, func() bool { return handled.Load() == n }, 30*time.Second, time.Millisecond)
	require.LessOrEqual(t, longest, 8+DefaultLinkWindow/(2000+wire.DescSize)+8, "queued notifications")
	require.NoError(t, receiver.Err())
	require.NoError(t, sender.Err())
}

// TestPeerCallsBounded: beyond MaxPeerCalls running handlers, calls wait
// without a goroutine and run as handlers return; a peer that keeps
// opening calls without the credit they hold breaks the protocol once the
// link window is spent.
func TestPeerCallsBounded(t *testing.T) {
	var running, ran atomic.Int64
	var gmu sync.Mutex
	goroutines := map[string]bool{}
	stop := make(chan struct{})
	mux := NewMux()
	id, err := mux.HandleStream("test.Hostile", "Wait", func(ctx context.Context, st *Stream) error {
		gmu.Lock()
		goroutines[goroutineID()] = true
		gmu.Unlock()
		ran.Add(1)
		running.Add(1)
		defer running.Add(-1)
		select {
		case <-ctx.Done():
		case <-stop:
		}
		return nil
	})
	require.NoError(t, err)
	const limit, opened = 100, 3000
	base := runtime.NumGoroutine()
	s, p := newRawPeer(t, mux, Config{MaxPeerCalls: limit})
	for i := range opened {
		p.send(wire.KindOpen, uint64(2*i+1), id, 0, nil)
	}
	require.Eventually(t, func() bool { return running.Load() == limit }, 10*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, int64(limit), ran.Load(), "handlers started beyond the limit")
	require.LessOrEqual(t, runtime.NumGoroutine(), base+limit+50)
	close(stop) // the handlers return; the waiting calls run in turn
	statuses := 0
	for statuses < opened {
		d := p.expect(wire.KindStatus)
		require.Equal(t, plexus.OK, plexus.Code(d.Aux()), "channel %d", d.Channel())
		statuses++
	}
	// Each waiting call ran on the goroutine of a handler that had
	// returned, not on a new one beside it: the goroutines of the peer's
	// calls never outnumbered the limit, not even while all the running
	// handlers returned at once. (One more is the reader's: it may run a
	// call itself, and hands its successor to a worker.)
	gmu.Lock()
	require.LessOrEqual(t, len(goroutines), limit+1, "goroutines that ran the calls")
	gmu.Unlock()
	require.Equal(t, int64(opened), ran.Load())
	require.NoError(t, s.Err())
}

// goroutineID names the calling goroutine, from the first line of its
// stack ("goroutine 42 [running]:").
func goroutineID() string {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	return f[1]
}

// TestPeerCallFloodBreaksProtocol: a peer that opens calls beyond the
// limit without regard to the credit each waiting call holds has spent
// the link window after LinkWindow/64 of them, and its next OPEN is a
// protocol violation: what waits cannot grow without bound.
func TestPeerCallFloodBreaksProtocol(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	mux := NewMux()
	id, err := mux.HandleStream("test.Hostile", "Block", func(ctx context.Context, st *Stream) error {
		select {
		case <-ctx.Done():
		case <-block:
		}
		return nil
	})
	require.NoError(t, err)
	const limit = 16
	s, p := newRawPeer(t, mux, Config{MaxPeerCalls: limit})
	sent := 0
	for ; sent < 50000 && s.Err() == nil; sent++ {
		var d wire.Desc
		newDesc(&d, wire.KindOpen, uint64(2*sent+1), 0)
		d.SetMethod(id)
		if p.tr.Send(&d, nil) != nil {
			break
		}
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("the session still runs after %d calls opened", sent)
	}
	require.Equal(t, plexus.ProtocolViolation, plexus.CodeOf(s.Err()), "%v", s.Err())
	require.ErrorContains(t, s.Err(), "link flow-control window exceeded")
	s.srv.calls.mu.Lock()
	waiting := len(s.srv.calls.backlog)
	s.srv.calls.mu.Unlock()
	require.LessOrEqual(t, waiting, DefaultLinkWindow/wire.DescSize+1, "calls waiting when the link ended")
	// The backlog itself is no witness of what stopped the flood: once
	// the session has died, the blocked handlers return and the waiting
	// calls are started and failed, and it may be empty by now. The calls
	// sent are: the window is exceeded only after about as many OPENs as
	// it holds.
	require.Greater(t, sent, DefaultLinkWindow/wire.DescSize/2, "the session ended before the window was full")
}

// refusing is a transport whose Send refuses the next n sends of control
// frames with RESOURCE_EXHAUSTED, as the shared-memory transport does when
// its ring stays full for its wait bound.
type refusing struct {
	transport.Transport
	n atomic.Int64
}

func (r *refusing) Send(d *wire.Desc, p []byte) error {
	if d.Channel() == 0 && r.n.Add(-1) >= 0 {
		return plexus.Errorf(plexus.ResourceExhausted, "ring full for 1ms: the peer is not receiving")
	}
	return r.Transport.Send(d, p)
}

// TestControlWriterOutlivesFullRing: a control frame refused because the
// peer's ring stayed full (it paused) is sent once there is room again,
// and the writer goes on with later frames: the session does not go on
// half alive with no credit, pong or reset ever sent again.
func TestControlWriterOutlivesFullRing(t *testing.T) {
	r := &refusing{}
	s, p := newRawPeerOver(t, nil, Config{}, func(tr transport.Transport) transport.Transport {
		r.Transport = tr
		return r
	})
	r.n.Store(3)
	for nonce := uint64(7); nonce < 10; nonce++ {
		var d wire.Desc
		newDesc(&d, wire.KindPing, 0, 0)
		d.SetAux(nonce)
		require.NoError(t, p.tr.Send(&d, nil))
		pong := p.expect(wire.KindPong)
		require.Equal(t, nonce, pong.Aux())
	}
	require.NoError(t, s.Err())
}

// ringingPoller is a polled transport whose doorbell the test rings by
// hand, with nothing ever in the ring: a peer writing to the doorbell in a
// loop. It counts the polls the session makes.
type ringingPoller struct {
	transport.Transport
	bell     chan struct{}
	polls    atomic.Int64
	wakeups  atomic.Int64
	closedCh chan struct{}
}

// It must stay a transport.Poller: the session finds out by assertion.
var _ transport.Poller = (*ringingPoller)(nil)

func (p *ringingPoller) TryRecv(f *transport.Frame) (bool, error) { p.polls.Add(1); return false, nil }
func (p *ringingPoller) Arm() bool                                { return false }
func (p *ringingPoller) Disarm()                                  {}
func (p *ringingPoller) Pending() bool                            { return false }
func (p *ringingPoller) Wake()                                    { p.ring() }
func (p *ringingPoller) SpinBudget() time.Duration                { return 20 * time.Microsecond }
func (p *ringingPoller) ring() {
	select {
	case p.bell <- struct{}{}:
	default:
	}
}
func (p *ringingPoller) Wait(d time.Duration) error {
	select {
	case <-p.bell:
		p.wakeups.Add(1)
		return nil
	case <-p.closedCh:
		return plexus.Errorf(plexus.LinkClosed, "closed")
	case <-time.After(d):
		return nil
	}
}
func (p *ringingPoller) Close() error {
	select {
	case <-p.closedCh:
	default:
		close(p.closedCh)
	}
	return p.Transport.Close()
}

// TestEmptyRingsDoNotPoll: a doorbell rung with nothing behind it (a peer
// writing to it in a loop) wakes a reader, which looks once and goes back
// to sleep without polling for its spin budget: otherwise each of the
// peer's microsecond writes would cost this side tens of microseconds.
func TestEmptyRingsDoNotPoll(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	defer a.Close()
	p := &ringingPoller{Transport: b, bell: make(chan struct{}, 1), closedCh: make(chan struct{})}
	s := New(p, Config{Role: Acceptor})
	defer s.Close()
	time.Sleep(50 * time.Millisecond) // the readers' first polls, then asleep
	before := p.polls.Load()
	const rings = 200
	for range rings {
		p.ring()
		time.Sleep(100 * time.Microsecond)
	}
	require.Greater(t, p.wakeups.Load(), int64(rings/2), "the rings woke nobody: the test proves nothing")
	polls := p.polls.Load() - before
	// A poll of the spin budget is about a thousand TryRecv calls here; a
	// wake-up for nothing may cost one pass of the poll loop (16 looks
	// between readings of the clock).
	require.Less(t, polls, int64(20*rings), "TryRecv calls for %d empty rings", rings)
}
