package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
)

// fakePoller is the session's end of a link whose peer is the test: a
// portable stand-in for the shared-memory transport's polled receive side
// (transport.Poller), in ordinary memory, with every step counted. The
// test publishes frames with push, as the peer would, and reads what the
// session sent from out. The doorbell follows the shared-memory protocol:
// a frame published while the receiver is armed rings it; a ring nobody
// waits for is kept (one) for the next Wait.
type fakePoller struct {
	spin time.Duration

	mu     sync.Mutex
	in     []transport.Frame // published by the peer, not yet taken
	armed  bool
	failed error // what TryRecv reports once in is empty (the peer is gone)

	out  chan transport.Frame // what the session sent
	bell chan struct{}        // capacity 1
	done chan struct{}        // closed by Close
	once sync.Once

	// onTryRecv, if set before the session polls, runs at the start of
	// every TryRecv with its number (from 1), on the polling goroutine
	// and with the token held: a test publishes a frame at a chosen
	// poll, or waits there for another goroutine to get somewhere.
	onTryRecv func(n int64)
	// onArm, if set, runs after every Arm has armed the link, with its
	// number (from 1), on the goroutine leaving the token, which it
	// still holds.
	onArm func(n int64)
	// yield, if set before the session runs, makes every yield-th
	// TryRecv and Arm call runtime.Gosched (Arm before and after it
	// arms), to shake the interleavings of the goroutines that race for
	// the token.
	yield int64

	// onClose, if set, runs at the start of Close, on the closing
	// goroutine: a test holds the close there.
	onClose func()

	tryRecvs, arms, disarms, rings, wakes, waits atomic.Int64
}

// It must stay a transport.Poller: the session finds out by assertion.
var _ transport.Poller = (*fakePoller)(nil)

func newFakePoller(spin time.Duration) *fakePoller {
	return &fakePoller{
		armed: true, // an idle link: the last poller armed it as it left
		spin:  spin,
		out:   make(chan transport.Frame, 1<<12),
		bell:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

var errFakeClosed = plexus.Errorf(plexus.LinkClosed, "fake link closed")

func (p *fakePoller) Send(d *wire.Desc, payload []byte) error {
	f := transport.Frame{Desc: *d, Payload: append([]byte(nil), payload...)}
	f.Desc.SetLength(uint32(len(payload)))
	select {
	case <-p.done:
		return errFakeClosed
	default:
	}
	select {
	case p.out <- f:
		return nil
	case <-p.done:
		return errFakeClosed
	}
}

func (p *fakePoller) Alloc(n int) ([]byte, error) { return make([]byte, n), nil }
func (p *fakePoller) Free([]byte)                 {}
func (p *fakePoller) Release(*transport.Frame)    {}
func (p *fakePoller) MaxPayload() int             { return 1 << 20 }
func (p *fakePoller) SpinBudget() time.Duration   { return p.spin }

func (p *fakePoller) Close() error {
	if p.onClose != nil {
		p.onClose()
	}
	p.once.Do(func() { close(p.done) })
	return nil
}

// Recv is not used on a Poller (the session only polls), but a
// transport.Transport has it.
func (p *fakePoller) Recv(f *transport.Frame) error {
	for {
		if ok, err := p.TryRecv(f); ok || err != nil {
			return err
		}
		if err := p.Wait(time.Millisecond); err != nil {
			return err
		}
	}
}

func (p *fakePoller) shake(n int64) {
	if p.yield > 0 && n%p.yield == 0 {
		runtime.Gosched()
	}
}

func (p *fakePoller) TryRecv(f *transport.Frame) (bool, error) {
	n := p.tryRecvs.Add(1)
	p.shake(n)
	p.Disarm() // TryRecv withdraws Arm first (transport.Poller)
	if p.onTryRecv != nil {
		p.onTryRecv(n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.in) > 0 {
		*f = p.in[0]
		p.in = p.in[1:]
		return true, nil
	}
	if p.failed != nil {
		return false, p.failed
	}
	select {
	case <-p.done:
		return false, errFakeClosed
	default:
		return false, nil
	}
}

func (p *fakePoller) Arm() bool {
	n := p.arms.Add(1)
	p.shake(n)
	p.mu.Lock()
	p.armed = true
	pending := len(p.in) > 0
	p.mu.Unlock()
	p.shake(n) // widen the window between Arm and the token's release
	if p.onArm != nil {
		p.onArm(n)
	}
	return pending
}

func (p *fakePoller) Disarm() {
	p.mu.Lock()
	p.disarmLocked()
	p.mu.Unlock()
}

// disarmLocked withdraws Arm, counting the withdrawals that changed
// something.
func (p *fakePoller) disarmLocked() {
	if p.armed {
		p.armed = false
		p.disarms.Add(1)
	}
}

func (p *fakePoller) Pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.in) > 0
}

func (p *fakePoller) Wait(timeout time.Duration) error {
	p.waits.Add(1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.bell:
		return nil
	case <-p.done:
		return errFakeClosed
	case <-t.C:
		return nil
	}
}

func (p *fakePoller) Wake() {
	p.wakes.Add(1)
	p.ring()
}

func (p *fakePoller) ring() {
	select {
	case p.bell <- struct{}{}:
	default:
	}
}

// push publishes a frame from the peer, ringing the doorbell if the
// session is armed.
func (p *fakePoller) push(f transport.Frame) {
	p.mu.Lock()
	p.in = append(p.in, f)
	armed := p.armed
	p.mu.Unlock()
	if armed {
		p.rings.Add(1)
		p.ring()
	}
}

// fail makes TryRecv report err once the frames published are taken.
func (p *fakePoller) fail(err error) {
	p.mu.Lock()
	p.failed = err
	armed := p.armed
	p.mu.Unlock()
	if armed {
		p.ring()
	}
}

func (p *fakePoller) isArmed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.armed
}

// expect returns the next frame of kind the session sent on channel id,
// skipping others (credit grants, say).
func (p *fakePoller) expect(t *testing.T, kind wire.Kind, id uint64) transport.Frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-p.out:
			if f.Desc.Kind() == kind && f.Desc.Channel() == id {
				return f
			}
		case <-timeout:
			t.Fatalf("no frame of kind %d on channel %d within 10s", kind, id)
		}
	}
}

var (
	_ transport.Transport = (*fakePoller)(nil)
	_ transport.Poller    = (*fakePoller)(nil)
)

// peerFrame is a frame from the peer: an OK STATUS answering channel id
// with msg, or (kind OPEN) a call of method with msg as its request.
func peerFrame(kind wire.Kind, id, method uint64, msg string) transport.Frame {
	var f transport.Frame
	newDesc(&f.Desc, kind, id, wire.FlagMsg|wire.FlagEnd)
	f.Desc.SetMethod(method)
	f.Payload = []byte(msg)
	f.Desc.SetLength(uint32(len(msg)))
	return f
}

func statusFrame(id uint64, msg string) transport.Frame {
	return peerFrame(wire.KindStatus, id, 0, msg)
}

// newPolledSession is a session over fp whose polling receiver starts no
// reader goroutines: the test polls through it itself, or starts readers
// (r.read) when it means to.
func newPolledSession(t *testing.T, fp *fakePoller, cfg Config) (*Session, *pollReceiver) {
	t.Helper()
	cfg.KeepaliveIdle = -1
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Error, Output: testWriter{t}})
	}
	s := newSession(fp, cfg)
	t.Cleanup(func() { s.Close() })
	r, ok := s.rx.(*pollReceiver)
	require.True(t, ok, "a transport.Poller gets the polling receiver")
	// A count of preemptions that never moves: a test whose polls run
	// slow must not stop polling because the machine is loaded (see
	// contention). Only callers read it, and none polls yet.
	r.switches = func() int64 { return 0 }
	return s, r
}

// openCall opens a unary call on s (as Invoke does) and takes its OPEN
// off the link.
func openCall(t *testing.T, s *Session, fp *fakePoller, req string) *channel {
	t.Helper()
	ch, err := s.open(context.Background(), 7, plexus.Raw(req), true, nil, 0)
	require.NoError(t, err)
	open := fp.expect(t, wire.KindOpen, ch.id)
	require.Equal(t, req, string(open.Payload))
	return ch
}

// response is what the next receive on ch returns, decoded.
func response(t *testing.T, ch *channel) string {
	t.Helper()
	it, err := ch.next(context.Background())
	require.NoError(t, err)
	var resp plexus.Raw
	require.NoError(t, ch.consume(&it, &resp))
	return string(resp)
}

// eventually waits (bounded) until cond holds.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Microsecond, what)
}

// tokenFree reports whether nobody holds the receive token.
func (r *pollReceiver) tokenFree() bool {
	if !r.tok.TryLock() {
		return false
	}
	r.tok.Unlock()
	return true
}

func (r *pollReceiver) hasSleeper() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sleeper.Load()
}

// TestAwaitFrameWhilePolling: a caller that finds the token free polls
// for its response itself; the response arriving while it polls is
// dispatched by it, and nothing rings a doorbell.
func TestAwaitFrameWhilePolling(t *testing.T) {
	fp := newFakePoller(time.Minute)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	r.maxCallSpin = time.Minute // the budget must not pass before poll 200, however slow the polls
	ch := openCall(t, s, fp, "ping")
	const at = 200 // past two looks at the clock (every 64 polls)
	fp.onTryRecv = func(n int64) {
		if n == at {
			fp.push(statusFrame(ch.id, "pong"))
		}
	}
	require.True(t, r.await(ch, context.Background()))
	require.EqualValues(t, at, fp.tryRecvs.Load(), "the caller stops polling once its response is dispatched")
	require.EqualValues(t, 1, fp.disarms.Load(), "the caller disarms the link when it takes the token")
	require.Zero(t, fp.rings.Load(), "the response came while the link was disarmed")
	require.Zero(t, fp.wakes.Load(), "nobody else waits: no reader is woken")
	require.True(t, r.tokenFree())
	// It leaves without arming (see lazyArm): the timer arms the link
	// once no call followed.
	eventually(t, func() bool { return fp.arms.Load() == 1 && !r.lazy.open.Load() }, "the lazy leave's timer arms the link")
	require.Positive(t, r.respTime.Load(), "the response time, as of the last look at the clock, is folded into the budget")
	require.Equal(t, "pong", response(t, ch))
}

// TestAwaitFastResponseReadsNoClock: a response that comes before the
// caller's first look at the clock (64 polls) counts as taking no time,
// and pulls the moving average down.
func TestAwaitFastResponseReadsNoClock(t *testing.T) {
	fp := newFakePoller(time.Millisecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	r.respTime.Store(int64(80 * time.Microsecond))
	fp.onTryRecv = func(n int64) {
		if n == 5 {
			fp.push(statusFrame(ch.id, "pong"))
		}
	}
	require.True(t, r.await(ch, context.Background()))
	require.EqualValues(t, 5, fp.tryRecvs.Load())
	require.EqualValues(t, 70*time.Microsecond, r.respTime.Load(), "0 folded in with weight 1/8")
	require.Equal(t, "pong", response(t, ch))
}

// TestAwaitFrameAfterArmAndSleep: a caller whose budget passes leaves the
// token (arming the link) and blocks; the response then rings the
// doorbell, the sleeping reader receives it and wakes the caller.
func TestAwaitFrameAfterArmAndSleep(t *testing.T) {
	fp := newFakePoller(0) // no spinning: callBudget and readBudget are 0
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	got := make(chan bool, 1)
	go func() { got <- r.await(ch, context.Background()) }()
	eventually(t, func() bool { return r.waiters.Load() == 1 }, "the caller blocks")
	require.EqualValues(t, 16, fp.tryRecvs.Load(), "a zero budget is one pass of the poll loop")
	require.True(t, fp.isArmed(), "the caller armed the link when it left")
	go r.read()
	eventually(t, func() bool { return fp.waits.Load() == 1 && r.hasSleeper() }, "the reader sleeps on the doorbell")
	require.Zero(t, fp.wakes.Load())
	fp.push(statusFrame(ch.id, "pong"))
	select {
	case ok := <-got:
		require.True(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("the caller was not woken")
	}
	require.EqualValues(t, 1, fp.rings.Load(), "the response rang the doorbell")
	require.Equal(t, "pong", response(t, ch))
}

// TestAwaitCallerDispatchesForBlockedCaller: the token is handed on by
// dispatch: a second caller that finds a caller holding the token blocks
// at once (claimToken refuses), and the holder dispatches its response
// along with its own; the second caller never touches the link.
func TestAwaitCallerDispatchesForBlockedCaller(t *testing.T) {
	fp := newFakePoller(time.Millisecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	a := openCall(t, s, fp, "a")
	b := openCall(t, s, fp, "b")
	bGot := make(chan bool, 1)
	fp.onTryRecv = func(n int64) {
		switch n {
		case 1: // a holds the token
			go func() { bGot <- r.await(b, context.Background()) }()
			eventually(t, func() bool { return r.waiters.Load() == 1 }, "b blocks")
			fp.push(statusFrame(b.id, "for b"))
		case 2:
			select {
			case ok := <-bGot:
				require.True(t, ok)
			case <-time.After(10 * time.Second):
				t.Error("b was not woken by a's dispatch")
			}
			fp.push(statusFrame(a.id, "for a"))
		}
	}
	require.True(t, r.await(a, context.Background()))
	require.EqualValues(t, 2, fp.tryRecvs.Load())
	require.EqualValues(t, 1, fp.disarms.Load(), "b never took the token")
	require.Zero(t, r.want.Load(), "b did not ask for it either: a caller holds it")
	require.Zero(t, fp.rings.Load())
	require.Zero(t, fp.wakes.Load(), "nobody was blocked when a left")
	require.Equal(t, "for a", response(t, a))
	require.Equal(t, "for b", response(t, b))
}

// TestAwaitLeavingCallerWakesReader: a caller that leaves with its
// response while another is blocked on its own wakes the sleeping reader,
// which takes the token and receives the other's response.
func TestAwaitLeavingCallerWakesReader(t *testing.T) {
	fp := newFakePoller(time.Millisecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	a := openCall(t, s, fp, "a")
	b := openCall(t, s, fp, "b")
	go r.read()
	eventually(t, func() bool { return fp.waits.Load() == 1 && r.hasSleeper() }, "the reader sleeps on the doorbell")
	before := fp.tryRecvs.Load()
	bGot := make(chan bool, 1)
	fp.onTryRecv = func(n int64) {
		switch n {
		case before + 1: // a holds the token
			go func() { bGot <- r.await(b, context.Background()) }()
			eventually(t, func() bool { return r.waiters.Load() == 1 }, "b blocks")
			fp.push(statusFrame(a.id, "for a"))
		case before + 2: // the reader, woken by a as it left
			if !r.readerHolds.Load() {
				t.Error("the second poll is not the reader's")
			}
			fp.push(statusFrame(b.id, "for b"))
		}
	}
	require.True(t, r.await(a, context.Background()))
	select {
	case ok := <-bGot:
		require.True(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("b was not woken")
	}
	require.EqualValues(t, 1, fp.wakes.Load(), "a woke the reader as it left")
	require.Zero(t, fp.rings.Load(), "the peer rang nothing")
	// Woken by this side, not for nothing: the reader polls its budget
	// (a millisecond) after the frame, not one pass of the loop.
	eventually(t, func() bool { return fp.tryRecvs.Load() > before+2+32 }, "the reader polls its budget")
	require.Equal(t, "for a", response(t, a))
	require.Equal(t, "for b", response(t, b))
}

// TestCallerLeaveRewakesSleeper: a frame that arrives after a leaving
// caller armed the link, but before it freed the token, rings the
// sleeper, which finds the token held and goes back to sleep; the caller
// looks at the link again once the token is free, and wakes it.
func TestCallerLeaveRewakesSleeper(t *testing.T) {
	fp := newFakePoller(0)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	go r.read()
	eventually(t, func() bool { return fp.waits.Load() == 1 && r.hasSleeper() }, "the reader sleeps on the doorbell")
	armed := fp.arms.Load()
	fp.onArm = func(n int64) {
		if n != armed+1 { // the caller's, as it leaves
			return
		}
		fp.push(statusFrame(ch.id, "pong"))
		eventually(t, func() bool { return fp.waits.Load() == 2 }, "the sleeper, rung, finds the token held and sleeps again")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.True(t, r.await(ch, ctx), "the response was left in the ring")
	require.EqualValues(t, 1, fp.rings.Load())
	require.EqualValues(t, 1, fp.wakes.Load(), "the caller woke the sleeper for the frame")
	require.Equal(t, "pong", response(t, ch))
}

// TestReaderLeaveRewakesSleeper is TestCallerLeaveRewakesSleeper for a
// reader that leaves the token while another sleeps on the doorbell.
func TestReaderLeaveRewakesSleeper(t *testing.T) {
	fp := newFakePoller(0)
	_, r := newPolledSession(t, fp, Config{Role: Initiator})
	go r.read()
	eventually(t, func() bool { return fp.waits.Load() == 1 && r.hasSleeper() }, "the first reader sleeps on the doorbell")
	armed := fp.arms.Load()
	fp.onArm = func(n int64) {
		if n != armed+1 { // the second reader's, as it leaves
			return
		}
		var ping transport.Frame
		newDesc(&ping.Desc, wire.KindPing, 0, 0)
		ping.Desc.SetAux(42)
		fp.push(ping)
		eventually(t, func() bool { return fp.waits.Load() == 2 }, "the sleeper, rung, finds the token held and sleeps again")
	}
	go r.read()
	pong := fp.expect(t, wire.KindPong, 0)
	require.EqualValues(t, 42, pong.Desc.Aux(), "the PING left in the ring was received")
	require.EqualValues(t, 1, fp.wakes.Load())
}

// TestAwaitClaimsTokenFromReader: a lone caller that finds a reader
// polling asks it for the token (claimToken); the reader yields at its
// next poll and the caller receives its response itself.
func TestAwaitClaimsTokenFromReader(t *testing.T) {
	fp := newFakePoller(time.Second) // the reader polls for a second
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	var pushed atomic.Bool
	fp.onTryRecv = func(int64) {
		if !r.readerHolds.Load() && pushed.CompareAndSwap(false, true) {
			fp.push(statusFrame(ch.id, "pong")) // the caller polls now
		}
	}
	go r.read()
	eventually(t, func() bool { return fp.disarms.Load() == 1 && !r.tokenFree() }, "the reader polls")
	start := time.Now()
	require.True(t, r.await(ch, context.Background()))
	require.Less(t, time.Since(start), fp.spin/2, "the reader yielded at once, not at the end of its budget")
	require.True(t, pushed.Load(), "the caller polled with the token")
	require.EqualValues(t, 2, fp.disarms.Load(), "the reader's and the caller's")
	require.Zero(t, r.want.Load())
	require.Zero(t, fp.rings.Load())
	require.Equal(t, "pong", response(t, ch))
}

// TestClaimToken drives claimToken directly, with the token held by the
// test in the part of a reader or of a caller.
func TestClaimToken(t *testing.T) {
	fp := newFakePoller(2 * time.Millisecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := s.pool.newChannel(1, 7, true)
	r.tok.Lock()
	defer r.tok.Unlock()

	r.readerHolds.Store(false)
	require.False(t, r.claimToken(ch), "a caller holds the token: it dispatches for everyone")
	require.Zero(t, r.want.Load())

	r.readerHolds.Store(true)
	r.waiters.Store(1)
	require.False(t, r.claimToken(ch), "other callers wait: the claim would not help them")
	r.waiters.Store(0)

	ch.signal()
	require.False(t, r.claimToken(ch), "the channel was signalled: look at it")
	<-ch.wake

	start := time.Now()
	require.False(t, r.claimToken(ch), "a reader that never yields")
	require.GreaterOrEqual(t, time.Since(start), fp.spin, "the claim waits the spin budget")
	require.Zero(t, r.want.Load(), "and withdraws its request")
}

// TestTakeToken: a reader retaking the token after a response disarms the
// link and marks the token a reader's; a token held is left alone.
func TestTakeToken(t *testing.T) {
	fp := newFakePoller(time.Millisecond)
	_, r := newPolledSession(t, fp, Config{Role: Initiator})
	r.readerHolds.Store(true)
	require.True(t, r.takeToken())
	require.False(t, r.readerHolds.Load())
	require.EqualValues(t, 1, fp.disarms.Load())
	require.False(t, r.takeToken(), "held already")
	require.EqualValues(t, 1, fp.disarms.Load())
	r.tok.Unlock()
}

// TestCallBudget: twice the recent response time, within the transport's
// spin budget and maxCallSpin; zero when the transport asks for none.
func TestCallBudget(t *testing.T) {
	for _, c := range []struct {
		spin, resp, want time.Duration
	}{
		{0, 50 * time.Microsecond, 0},
		{20 * time.Microsecond, 0, 20 * time.Microsecond},
		{20 * time.Microsecond, 5 * time.Microsecond, 20 * time.Microsecond},
		{20 * time.Microsecond, 30 * time.Microsecond, 60 * time.Microsecond},
		{20 * time.Microsecond, time.Millisecond, maxCallSpin},
		{time.Millisecond, 0, maxCallSpin},
	} {
		r := &pollReceiver{spin: c.spin, maxCallSpin: maxCallSpin}
		r.respTime.Store(int64(c.resp))
		require.Equal(t, c.want, r.callBudget(false), "spin %v, response time %v", c.spin, c.resp)
		require.Equal(t, c.want, r.callBudget(true), "a call that rang the peer: the same without contention")
	}
	r := &pollReceiver{spin: 20 * time.Microsecond, maxCallSpin: maxCallSpin}
	r.observe(80 * time.Microsecond)
	require.EqualValues(t, 10*time.Microsecond, r.respTime.Load(), "a moving average of weight 1/8")
	require.Equal(t, 20*time.Microsecond, r.callBudget(false))
	for range 64 {
		r.observe(80 * time.Microsecond)
	}
	require.Equal(t, 2*time.Duration(r.respTime.Load()), r.callBudget(false))
	require.InDelta(t, float64(160*time.Microsecond), float64(r.callBudget(false)), float64(time.Microsecond))
}

// TestPollCallEnds: a caller's poll ends at its budget, or when its
// context does, with the link armed and the token free; the budget it
// gave up on counts double in the moving average.
func TestPollCallEnds(t *testing.T) {
	fp := newFakePoller(0)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")

	r.tok.Lock()
	got, _, err, _ := r.pollCall(ch, context.Background(), 0)
	require.False(t, got)
	require.NoError(t, err)
	require.EqualValues(t, 16, fp.tryRecvs.Load(), "a zero budget is read every 16 polls")
	require.True(t, fp.isArmed())
	require.True(t, r.tokenFree())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.tok.Lock()
	got, _, err, _ = r.pollCall(ch, ctx, time.Hour)
	require.False(t, got)
	require.NoError(t, err)
	require.EqualValues(t, 16+64, fp.tryRecvs.Load(), "a context that ended stops the poll at its next look at the clock, every 64 polls")
	require.True(t, r.tokenFree())

	fp.spin = time.Millisecond
	r.spin = fp.spin
	require.False(t, r.await(ch, ctx), "await reports the context's end")
	require.Zero(t, r.respTime.Load(), "a context that ended says nothing of response times")
	require.Zero(t, r.waiters.Load())
}

// TestAwaitRecvError: a receive error met while polling ends the session,
// and the caller finds its channel failed with the session's status.
func TestAwaitRecvError(t *testing.T) {
	fp := newFakePoller(time.Millisecond)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	fp.fail(plexus.WithCause(plexus.PeerDied, plexus.ErrPeerDied, "fake peer gone"))
	require.True(t, r.await(ch, context.Background()), "the channel has news: its final status")
	<-s.Done()
	require.Equal(t, plexus.PeerDied, plexus.CodeOf(s.Err()))
	_, err := ch.next(context.Background())
	require.Equal(t, plexus.PeerDied, plexus.CodeOf(err))
	require.True(t, r.tokenFree())
}

// TestReaderPromotedWhenHandlerBlocks: a reader that received a call with
// nothing behind it runs the handler itself; when the handler blocks, and
// no other reader sleeps on the doorbell, another reader is started after
// promoteAfter and serves the calls behind it.
func TestReaderPromotedWhenHandlerBlocks(t *testing.T) {
	mux := NewMux()
	release := make(chan struct{})
	inline := make(chan bool, 1)
	block, err := mux.HandleUnary("test.Poll", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		inline <- ranOn() == "reader"
		<-release
		return plexus.Raw("unblocked"), nil
	})
	require.NoError(t, err)
	echo, err := mux.HandleUnary("test.Poll", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	fp := newFakePoller(20 * time.Microsecond)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor, Mux: mux})
	go r.read() // the only reader: no sleeper covers it while it runs a call

	fp.push(peerFrame(wire.KindOpen, 1, block, "wait"))
	select {
	case ok := <-inline:
		require.True(t, ok, "the reader runs a call with nothing behind it itself")
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking handler did not start")
	}
	fp.push(peerFrame(wire.KindOpen, 3, echo, "behind"))
	st := fp.expect(t, wire.KindStatus, 3)
	require.Equal(t, "behind", string(st.Payload), "a promoted reader served the call behind the blocked one")
	close(release)
	st = fp.expect(t, wire.KindStatus, 1)
	require.Equal(t, "unblocked", string(st.Payload))
}

// TestReaderEndingArmsLink: a reader that ran a call on a link it left
// disarmed, and finds the session over once the handler returns, arms
// the link on its way out: the transport's hold on its memory, taken
// when polling began, is given back by the next Arm (see leaveToRun).
func TestReaderEndingArmsLink(t *testing.T) {
	mux := NewMux()
	started := make(chan struct{})
	block, err := mux.HandleUnary("test.Poll", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	require.NoError(t, err)
	fp := newFakePoller(20 * time.Microsecond)
	s, r := newPolledSession(t, fp, Config{Role: Acceptor, Mux: mux})
	r.promoteAfter = time.Hour // no reader started behind the call: the link stays as it left it
	exited := make(chan struct{})
	go func() { // the only reader: nothing covers the call it runs
		defer close(exited)
		r.read()
	}()
	fp.push(peerFrame(wire.KindOpen, 1, block, "wait"))
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	require.False(t, fp.isArmed(), "the reader left the link disarmed to run the call")
	arms := fp.arms.Load()
	require.NoError(t, s.Close())
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not end with the session")
	}
	require.Greater(t, fp.arms.Load(), arms, "the reader armed the link on its way out")
	require.True(t, r.tokenFree())
}

// TestPollWakeupsNeverLost: callers, readers, the peer's calls and the
// frames answering them, in a bounded number of randomized interleavings
// (seeded: the schedule of each round's peer, the spin budget, how many
// callers and calls, where the fake link yields): every call completes,
// long before a reader's idle sleep (idleWait) would end by itself, and
// once all is done the token is free and nobody is counted as waiting. A
// lost wake-up shows as a call that runs into its deadline.
func TestPollWakeupsNeverLost(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	for seed := range uint64(rounds) {
		if !pollRound(t, seed) {
			t.Fatalf("round %d failed (rerun it with its seed)", seed)
		}
	}
}

// pollPeer is the peer of a round of TestPollWakeupsNeverLost: it answers
// each call after a delay of its own (seeded) choosing, and makes calls
// of its own, whose answers it collects.
type pollPeer struct {
	fp       *fakePoller
	mu       sync.Mutex // rng, and the order of the peer's OPENs
	rng      *rand.Rand
	nextID   uint64               // of the peer's next call
	armQ     chan transport.Frame // answers to publish at an Arm (see onArm)
	answered chan string
}

const (
	answerAfterYield = -1
	answerAtArm      = -2 // while a goroutine leaves the token (see onArm)
)

func newPollPeer(fp *fakePoller, seed uint64, calls int) *pollPeer {
	p := &pollPeer{
		fp:       fp,
		rng:      rand.New(rand.NewPCG(seed, 0x70656572)),
		nextID:   2,
		armQ:     make(chan transport.Frame),
		answered: make(chan string, calls),
	}
	fp.onArm = p.onArm
	return p
}

// delay is how long the peer takes over its next answer or call: none, a
// yield, until an Arm, or up to 300 us.
func (p *pollPeer) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return answerAfterYield
	case 2:
		return answerAtArm
	default:
		return time.Duration(p.rng.IntN(300)) * time.Microsecond
	}
}

// onArm publishes an answer in the window between a leaving goroutine's
// Arm and its release of the token, where a sleeper rung for it finds the
// token held; it yields a little to let the sleeper try.
func (p *pollPeer) onArm(int64) {
	select {
	case f := <-p.armQ:
		p.fp.push(f)
		for range 3 {
			runtime.Gosched()
		}
	default:
	}
}

// answer answers a call of the session's with its request. An answer
// meant for an Arm that none takes within a millisecond is published as
// it is.
func (p *pollPeer) answer(open transport.Frame) {
	a := statusFrame(open.Desc.Channel(), string(open.Payload))
	switch d := p.delay(); {
	case d == answerAfterYield:
		runtime.Gosched()
	case d == answerAtArm:
		select {
		case p.armQ <- a:
			return
		case <-time.After(time.Millisecond):
		}
	case d > 0:
		time.Sleep(d)
	}
	p.fp.push(a)
}

// serve reads what the session sends until the link closes.
func (p *pollPeer) serve() {
	for {
		select {
		case f := <-p.fp.out:
			switch f.Desc.Kind() {
			case wire.KindOpen:
				go p.answer(f)
			case wire.KindStatus:
				p.answered <- string(f.Payload)
			}
		case <-p.fp.done:
			return
		}
	}
}

// call makes a call of method with msg, and waits for its answer.
func (p *pollPeer) call(method uint64, msg string) error {
	if d := p.delay(); d > 0 {
		time.Sleep(d)
	}
	p.mu.Lock()
	p.fp.push(peerFrame(wire.KindOpen, p.nextID, method, msg))
	p.nextID += 2 // in increasing order, as the protocol requires
	p.mu.Unlock()
	select {
	case <-p.answered:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the peer's call %q was not answered", msg)
	}
}

// pollRound is one round of TestPollWakeupsNeverLost; false if a call
// failed.
func pollRound(t *testing.T, seed uint64) bool {
	rng := rand.New(rand.NewPCG(seed, 0x706f6c6c))
	mux := NewMux()
	echo, err := mux.HandleUnary("test.Poll", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		if string(req) == "slow" {
			time.Sleep(100 * time.Microsecond) // longer than promoteAfter
		}
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	fp := newFakePoller([]time.Duration{0, time.Microsecond, 20 * time.Microsecond}[rng.IntN(3)])
	fp.yield = 1 + rng.Int64N(7)
	s, r := newPolledSession(t, fp, Config{Role: Initiator, Mux: mux})
	callers, calls, peerCalls := 1+rng.IntN(4), 1+rng.IntN(6), rng.IntN(3)
	peer := newPollPeer(fp, seed, peerCalls) // before the readers: it hooks Arm
	r.start()
	go peer.serve()

	round := fmt.Sprintf("seed %d: %d callers of %d calls, %d of the peer's, spin %v", seed, callers, calls, peerCalls, fp.spin)
	errs := make(chan error, callers*calls+peerCalls)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range calls {
				if err := invokeEcho(s, fmt.Sprintf("call %d.%d", c, i)); err != nil {
					errs <- fmt.Errorf("%s: %w", round, err)
				}
			}
		})
	}
	for i := range peerCalls {
		msg := "peer"
		if i == 0 {
			msg = "slow" // a handler that outlives promoteAfter on its reader
		}
		wg.Go(func() {
			if err := peer.call(echo, msg); err != nil {
				errs <- fmt.Errorf("%s: %w", round, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	ok := true
	for err := range errs {
		t.Error(err)
		ok = false
	}
	eventually(t, func() bool {
		return r.tokenFree() && r.waiters.Load() == 0 && r.want.Load() == 0
	}, "once the calls are done, the token is free and nobody waits")
	s.Close()
	return ok
}

// invokeEcho makes a call that the peer of pollRound answers with its
// request, within a bound far below a reader's idle sleep.
func invokeEcho(s *Session, req string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp plexus.Raw
	if err := s.Invoke(ctx, 7, plexus.Raw(req), &resp); err != nil {
		return fmt.Errorf("%s: %w", req, err)
	}
	if string(resp) != req {
		return fmt.Errorf("response %q to %q", resp, req)
	}
	return nil
}

// TestBlockingEnsuresReader: a goroutine about to wait for credit
// (blocking) makes sure someone receives, though it may be the reader
// itself, running a handler: with no reader at all, blocking starts one,
// which answers the peer's PING.
func TestBlockingEnsuresReader(t *testing.T) {
	fp := newFakePoller(0)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor})
	r.blocking() // nobody receives yet
	eventually(t, func() bool { return r.hasSleeper() }, "the reader blocking started sleeps on the doorbell")
	var ping transport.Frame
	newDesc(&ping.Desc, wire.KindPing, 0, 0)
	ping.Desc.SetAux(7)
	fp.push(ping)
	pong := fp.expect(t, wire.KindPong, 0)
	require.EqualValues(t, 7, pong.Desc.Aux(), "received by the reader blocking started")
}

// TestInlineHandlerGetsCredit: a stream handler run on the reader that
// spends its channel window waits for the peer's CREDIT, which must be
// received while the reader is busy running it: the handler's second
// message goes out once the CREDIT is pushed.
func TestInlineHandlerGetsCredit(t *testing.T) {
	mux := NewMux()
	inline := make(chan bool, 1)
	flood, err := mux.HandleStream("test.Poll", "Flood", func(ctx context.Context, st *Stream) error {
		inline <- ranOn() == "reader"
		for range 2 { // the first spends the window, the second waits
			if err := st.Send(plexus.Raw(make([]byte, DefaultChannelWindow))); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	fp := newFakePoller(20 * time.Microsecond)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor, Mux: mux})
	go r.read()
	open := peerFrame(wire.KindOpen, 1, flood, "")
	open.Desc.SetFlags(wire.FlagMsg) // the caller's side stays open
	fp.push(open)
	select {
	case ok := <-inline:
		require.True(t, ok, "the reader runs the handler itself")
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	first := fp.expect(t, wire.KindData, 1)
	require.Len(t, first.Payload, DefaultChannelWindow)
	var credit transport.Frame
	newDesc(&credit.Desc, wire.KindCredit, 1, 0)
	credit.Desc.SetCredit(uint32(wire.FrameCost(DefaultChannelWindow)))
	fp.push(credit)
	second := fp.expect(t, wire.KindData, 1)
	require.Len(t, second.Payload, DefaultChannelWindow, "sent once the CREDIT was received behind the handler")
}

// TestWatchPromotesOnlyLongCalls: the promote timer, set once for a run
// of calls, starts a reader for a call that outlives promoteAfter (here a
// ring of the sleeper, which the reader left on a disarmed link), for
// none of the short calls before it, once for the long one, and stops
// when the reader stops running calls.
func TestWatchPromotesOnlyLongCalls(t *testing.T) {
	fp := newFakePoller(20 * time.Microsecond)
	_, r := newPolledSession(t, fp, Config{Role: Acceptor})
	const after = 5 * time.Millisecond
	r.promoteAfter = after
	r.mu.Lock()
	r.sleeper.Store(true) // ensureReader rings it: a reader runs uncovered
	r.mu.Unlock()
	r.unarmed.Store(1)
	rd := r.newReader()
	t.Cleanup(func() { rd.promote.Stop() })

	// Short calls back to back for three promoteAfter: the timer fires
	// each time on a different call, and rings nobody.
	deadline := time.Now().Add(3 * after)
	for n := 0; time.Now().Before(deadline) && n < 1_000_000; n++ {
		rd.begin(nil)
		rd.calls.Add(1)
	}
	require.Zero(t, fp.wakes.Load(), "no short call was promoted")

	t0 := time.Now()
	rd.begin(nil)
	eventually(t, func() bool { return fp.wakes.Load() == 1 }, "a reader is started behind the long call")
	took := time.Since(t0)
	require.GreaterOrEqual(t, took, after, "not before promoteAfter")
	time.Sleep(3 * after)
	require.EqualValues(t, 1, fp.wakes.Load(), "once per call")
	rd.calls.Add(1)
	eventually(t, func() bool { return !rd.watching.Load() }, "the timer stops once no call runs")

	// The next call after the stop sets the timer again, and its firing
	// finds it still running: promoted after one promoteAfter.
	t0 = time.Now()
	rd.begin(nil)
	eventually(t, func() bool { return fp.wakes.Load() == 2 }, "the next long call is promoted too")
	require.GreaterOrEqual(t, time.Since(t0), after)
	rd.calls.Add(1)
	eventually(t, func() bool { return !rd.watching.Load() }, "and the timer stops again")
}

// TestDeathWakesCallersBeforeClose: when the session dies, its blocked
// callers get the status after Done is closed and before the transport's
// Close runs (a
// shared-memory link's unmaps and frees its segment, a third of a
// millisecond), and the handlers it serves are cancelled only after it.
func TestDeathWakesCallersBeforeClose(t *testing.T) {
	fp := newFakePoller(0)
	s, r := newPolledSession(t, fp, Config{Role: Initiator})
	ch := openCall(t, s, fp, "ping")
	served := s.pool.newChannel(2, 7, false) // a call the peer made
	cc := newCallCtx(served, 0)
	served.call = cc
	s.mu.Lock()
	s.chans.put(served.id, served)
	s.mu.Unlock()

	got := make(chan error, 1)
	var endedFirst atomic.Bool
	go func() {
		_, err := ch.next(context.Background())
		endedFirst.Store(s.ended())
		got <- err
	}()
	eventually(t, func() bool { return r.waiters.Load() == 1 }, "the caller blocks")

	closing, release := make(chan struct{}), make(chan struct{})
	var handlerDoneAtClose atomic.Bool
	fp.onClose = func() {
		handlerDoneAtClose.Store(cc.Err() != nil)
		close(closing)
		<-release
	}
	died := make(chan struct{})
	go func() {
		defer close(died)
		s.die(plexus.Errorf(plexus.PeerDied, "the peer's process is exiting"))
	}()
	select {
	case err := <-got:
		require.Equal(t, plexus.PeerDied, plexus.CodeOf(err), "the caller gets the death")
		require.True(t, endedFirst.Load(), "after Done is closed: a host's next call then waits for the restart")
	case <-time.After(10 * time.Second):
		t.Fatal("the caller was not woken")
	}
	select {
	case <-closing:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not run")
	}
	require.False(t, handlerDoneAtClose.Load(), "the handler's context is cancelled only after Close")
	close(release)
	<-died
	require.Error(t, cc.Err(), "and then it is")
}

// awaitPong waits for a caller's await (got) to return true, then checks
// that its channel holds the response "pong".
func awaitPong(t *testing.T, got <-chan bool, ch *channel) {
	t.Helper()
	select {
	case ok := <-got:
		require.True(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("the caller did not get its response")
	}
	require.Equal(t, "pong", response(t, ch))
}

// TestAwaitAfterRingYieldsAndPollsLonger: a call whose send rang the
// peer's doorbell (channel.woke) gives up its processor every
// wokeYieldEvery while it waits and polls for maxCallSpin whatever its
// budget, so it takes a response that comes after its budget itself; a
// call that rang nothing leaves at its budget, never yielding, and gets
// the response from a reader.
func TestAwaitAfterRingYieldsAndPollsLonger(t *testing.T) {
	var yields atomic.Int64
	newCall := func(t *testing.T, woke bool) (*fakePoller, *pollReceiver, *channel) {
		yields.Store(0)
		fp := newFakePoller(20 * time.Microsecond)
		s, r := newPolledSession(t, fp, Config{Role: Initiator})
		r.yield = func() { yields.Add(1) }
		r.maxCallSpin = time.Minute // a woken call's budget: no slow poll makes it leave
		ch := openCall(t, s, fp, "ping")
		ch.woke = woke
		r.respTime.Store(int64(time.Microsecond)) // budget: the transport's 20 us
		return fp, r, ch
	}

	t.Run("woke", func(t *testing.T) {
		fp, r, ch := newCall(t, true)
		// Every poll takes at least half a microsecond, so that each look
		// at the clock (one every 64 polls; the first starts it) finds
		// the wait 32 us longer, and the response comes at poll 160:
		// after the 20 us budget, one look after the first.
		fp.onTryRecv = func(n int64) { // on the polling goroutine
			for t0 := time.Now(); time.Since(t0) < 500*time.Nanosecond; {
			}
			if n == 160 {
				fp.push(statusFrame(ch.id, "pong"))
			}
		}
		got := make(chan bool, 1)
		go func() { got <- r.await(ch, context.Background()) }()
		awaitPong(t, got, ch)
		require.Positive(t, yields.Load(), "the caller yielded while it waited")
		require.Zero(t, r.waiters.Load(), "the caller never blocked")
		require.Zero(t, fp.waits.Load(), "nobody slept on the doorbell")
	})

	t.Run("rang nothing", func(t *testing.T) {
		fp, r, ch := newCall(t, false)
		got := make(chan bool, 1)
		go func() { got <- r.await(ch, context.Background()) }()
		eventually(t, func() bool { return r.waiters.Load() == 1 }, "the caller blocks at its budget")
		fp.push(statusFrame(ch.id, "pong"))
		go r.read()
		awaitPong(t, got, ch)
		require.Zero(t, yields.Load(), "a call that rang nothing does not yield")
	})
}
