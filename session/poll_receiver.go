package session

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// pollReceiver is the receiver of a transport that can be polled
// (transport.Poller: shared memory). No goroutine is dedicated to
// receiving. Whoever waits for a frame receives: a caller waiting for its
// response polls the link itself for its polling budget (await), and
// reader goroutines cover the rest. A hand-off from a reader goroutine to
// the caller would cost more than the whole round trip on shared memory
// (see BENCHMARKS.md).
//
// The token (tok) is the right to receive. Its holder polls with TryRecv,
// dispatches, and on leaving arms the transport, so that the peer's next
// frame rings the doorbell of the one reader sleeping in Wait (the
// sleeper). The other idle readers wait on spareWake.
//
// A reader that receives a call when nothing else is waiting runs the
// handler itself, after giving up the token: a hot call then crosses no
// goroutine hand-off on the serving side either. If the handler is still
// running after promoteAfter, another reader is started (the sleeper, a
// woken spare, or a new one), so a handler that blocks or makes calls of
// its own stalls the link only that long. When more frames are already
// waiting behind the call, it gets a goroutine of its own instead and the
// reader goes on receiving.
type pollReceiver struct {
	s    *Session
	p    transport.Poller
	spin time.Duration // readers' polling budget: the transport's
	// respTime is a moving average (ns) of how long callers polled until
	// their response came; see callBudget.
	respTime atomic.Int64
	tok      sync.Mutex

	want        atomic.Int32    // callers waiting to take the token from a reader
	waiters     atomic.Int32    // callers blocked on their channels (see await)
	readerHolds atomic.Bool     // the token holder is a reader goroutine
	f           transport.Frame // receive scratch, owned by the token holder
	// lastRx is when the last call (an OPEN) arrived, as an offset from
	// monoEpoch (0: none yet), and gap a
	// moving average of the time between calls (see readBudget), both in
	// nanoseconds. Atomic: tests and the budgets read them without the
	// token.
	lastRx atomic.Int64
	gap    atomic.Int64
	inline bool // the token holder may take a call to run itself (see run)
	// promoteAfter is the const, but for tests that must see a reader
	// run a call uncovered for as long as they look.
	promoteAfter time.Duration
	// yield is yieldProcessor, but for tests that count the yields;
	// maxCallSpin is the const, but for tests whose caller must poll
	// until a response they publish at a chosen poll, however slow the
	// polls (the race detector on a loaded machine).
	yield       func()
	maxCallSpin time.Duration
	// switches is involuntarySwitches, but for tests that preempt a
	// caller at will, or never (see contention).
	switches   func() int64
	contention contention
	job        serveJob // the call it took (job.ch != nil)

	// woken is set by this side before it rings its own doorbell (see
	// wake): a wake-up without it, and with nothing in the ring, came
	// from the peer for nothing.
	woken atomic.Bool
	// missed: the doorbell woke the sleeper while the token was held
	// (see missedToken).
	missed atomic.Bool
	// waiting: the sleeper is in (or about to enter) Wait, as far as a
	// caller deciding whether to wake it need know (see pollCall).
	waiting atomic.Bool
	// lazy: a caller left the link disarmed (see lazyArm).
	lazy lazyArm
	// unarmed counts the readers running a call on a link they left
	// disarmed (see leaveToRun and ensureReader).
	unarmed atomic.Int32

	mu sync.Mutex
	// sleeper: a reader is in (or committed to) Wait. Changed under mu,
	// with spares; atomic so that leaveToRun, on every call a reader
	// runs, looks without mu.
	sleeper   atomic.Bool
	spares    int // readers waiting on spareWake
	spareWake chan struct{}
}

// monoEpoch is the process's reference for polling loops' times: an
// offset from it (time.Since) costs one read of the monotonic clock.
var monoEpoch = time.Now()

// maxSpares bounds the idle readers kept beyond the sleeper; more exit.
const maxSpares = 4

func newPollReceiver(s *Session, p transport.Poller) *pollReceiver {
	r := &pollReceiver{s: s, p: p, spin: p.SpinBudget(), spareWake: make(chan struct{}, maxSpares), promoteAfter: promoteAfter, yield: yieldProcessor, maxCallSpin: maxCallSpin, switches: involuntarySwitches}
	r.initLazy()
	return r
}

func (r *pollReceiver) start() {
	go r.read()
	go r.read()
}

// run takes a call for the reader that received it, if the reader is
// allowed one (it runs the handler itself once it has left the token, see
// reader.runCall), and gives it to a worker otherwise. Only the token
// holder dispatches, so only it reads inline and job.
func (r *pollReceiver) run(j serveJob) {
	if r.inline {
		r.job = j
		return
	}
	r.s.srv.spawn(j)
}

// await lets a goroutine waiting on ch receive for itself if nobody else
// is (taking the token, or claiming it from a reader), and blocks on ch
// otherwise, or once its polling budget has passed.
//
// A caller of a unary call comes here right after it sent its request and
// found no response yet: the sooner the link is disarmed, the likelier
// the response arrives without a doorbell (which would cost the peer a
// system call and wake a reader here for nothing).
func (r *pollReceiver) await(ch *channel, ctx context.Context) bool {
	if r.tok.TryLock() || r.claimToken(ch) {
		r.readerHolds.Store(false) // (the first TryRecv disarms the link)
		budget := r.callBudget(ch.woke)
		got, waited, err, fromDispatch := r.pollCall(ch, ctx, budget)
		if err != nil {
			r.s.disp.recvFailed(err, fromDispatch)
			return true // the session is over; ch has its final status
		}
		if got {
			// How long the response took, as of the loop's last look at
			// the clock: 0 for one that came within the first 64 polls,
			// so that a fast round trip reads no clock at all.
			r.observe(waited)
			return true
		}
		if ctx.Err() == nil {
			r.observe(2 * budget)
		}
	}
	// Blocked, and counted among the callers waiting for their channels
	// (see pollCall); with others blocked, ctx may be theirs too (see
	// ctxWatch).
	crowded := r.waiters.Add(1) > 1
	ok := r.s.watch.wait(ch, ctx, crowded)
	r.waiters.Add(-1)
	return ok
}

// pollCall receives and dispatches frames with the token held until ch is
// signalled (got), the budget passes with nothing received, or ctx ends;
// then it leaves the token. It returns how long it polled as of its last
// look at the clock (see pollClock), and a receive error, or a dispatch
// error (fromDispatch), which the caller handles once the token is free.
//
// Leaving, it arms the transport first, so that the peer rings for its
// next frame; frames that arrived before that will not ring, so the
// sleeper is woken for them. It is woken after the token is free, and
// also when a sleeper that the peer rang between Arm and Unlock found the
// token held and marked the wake-up missed (see missedToken). If other callers
// are blocked waiting for their responses, the sleeper is woken to go on
// polling for them: under many concurrent calls a reader that polls for
// everyone (and whose budget each frame renews) beats callers taking
// turns, each turn ending in a doorbell. That wake-up is only rung for
// a sleeper that is in Wait: one that is not yet there will look for
// itself, and a reader that is busy elsewhere cannot be woken by it (64
// concurrent callers rang their own doorbell for nobody once in 11 calls,
// a write and an fcntl each).
func (r *pollReceiver) pollCall(ch *channel, ctx context.Context, budget time.Duration) (got bool, waited time.Duration, err error, fromDispatch bool) {
	s := r.s
	var clk pollClock
	var yielded time.Duration // when it last gave up the processor (see wokeYieldEvery)
	var probe contendProbe
poll:
	for i := 1; ; i++ {
		var ok bool
		if ok, err = r.p.TryRecv(&r.f); err != nil {
			break
		}
		if ok {
			s.rxFrames.Add(1)
			call := r.f.Desc.Kind() == wire.KindOpen
			pushes := s.ctl.pushes.Load()
			if st := s.disp.dispatch(&r.f); st != nil {
				err, fromDispatch = st, true
				break
			}
			i = 0
			clk.frame(call)
			if s.ctl.pushes.Load() != pushes {
				// The dispatch queued a frame for the control writer
				// (a credit grant, which the peer may be waiting for
				// before it can send what this caller waits for): let
				// the writer have the processor now, not at the next
				// yield, which a lone caller makes only every 256 polls.
				runtime.Gosched()
			}
		}
		select {
		case <-ch.wake:
			got = true
			break poll
		default:
		}
		if i&15 == 0 {
			if clk.due(i, budget) {
				idle := clk.idle()
				if clk.calls {
					clk.noteCalls(r)
				}
				if r.waiters.Load() == 0 && probe.preempted(idle, clk.at, r.switches) {
					// A lone caller, preempted while it waited: see
					// contention. (Where other callers wait, the
					// processors are this process's to share, and one
					// polling for all pays.)
					r.contention.mark(clk.base + clk.at)
					break
				}
				if ch.woke && idle >= wokeYieldEvery && clk.at-yielded >= wokeYieldEvery {
					// This call woke the peer: see wokeYieldEvery.
					budget = max(budget, r.maxCallSpin)
					yielded = clk.at
					r.yield()
				}
				if idle >= budget || ctx.Err() != nil {
					break
				}
			}
			// Let goroutines this P made runnable (callers woken by a
			// dispatch, say) run while we poll: every yieldEvery polls
			// while other callers are blocked (their responses come
			// through this loop), and a lone caller, whose own response
			// needs no yield, every loneYieldEvery.
			if i%yieldEvery == 0 && (i%loneYieldEvery == 0 || r.waiters.Load() > 0) {
				runtime.Gosched()
			}
		}
	}
	if err == nil && r.mayLeaveLazily(got) {
		r.leaveLazily()
		return got, clk.elapsed(), nil, false
	}
	r.closeLazy()
	pending := r.p.Arm()
	r.tok.Unlock()
	if pending || r.tookMissed() || (r.waiters.Load() > 0 && r.waiting.Load()) {
		r.wake()
	}
	return got, clk.elapsed(), err, fromDispatch
}

// takeToken takes the token if it is free, for a reader that ran a call,
// right after it sent the response, so that the link is disarmed before
// the peer's next call can ring (await does the same for callers).
// Nothing may be sent while the token is held: with the token held by
// senders on both sides and both rings full, neither side would read.
func (r *pollReceiver) takeToken() bool {
	if !r.tok.TryLock() {
		return false
	}
	r.readerHolds.Store(false)
	r.p.Disarm()
	return true
}

// claimToken asks a reader goroutine that holds the token to leave it to
// this waiting caller, and waits for it within the spin budget: a reader
// that receives the response would otherwise have to wake the caller, a
// hand-off that costs more than the round trip. It reports whether it
// took the token (the caller's first TryRecv disarms the link, as for a
// token it found free), false if the token did not come or ch was signalled meanwhile
// (then the caller blocks on ch, which returns at once if it was).
func (r *pollReceiver) claimToken(ch *channel) bool {
	if r.waiters.Load() > 0 || !r.readerHolds.Load() {
		// Other calls wait too, or a caller holds the token: it will
		// dispatch this response along with its own, and a reader will
		// take over for the rest (see pollCall).
		return false
	}
	r.want.Add(1)
	defer r.want.Add(-1)
	// The clock is first read after 16 tries: a reader mostly lets go
	// of the token within a few.
	var start time.Duration
	for i := 1; ; i++ {
		if len(ch.wake) > 0 {
			return false
		}
		if r.tok.TryLock() {
			return true
		}
		if i&15 == 0 {
			now := time.Since(monoEpoch)
			if i == 16 {
				start = now
			} else if now-start >= r.spin {
				return false
			}
			runtime.Gosched()
		}
	}
}

// leave gives the token up after a reader's round, as pollCall does for a
// caller (see there), without waking the sleeper for blocked callers: a
// reader that polled for them has had its budget.
func (r *pollReceiver) leave() {
	r.closeLazy()
	pending := r.p.Arm()
	r.tok.Unlock()
	if pending || r.tookMissed() {
		r.wake()
	}
}

// tookMissed reports, and clears, the mark of a sleeper that the doorbell
// woke while the token was held (see missedToken). The holder looks after
// it has left the token: the ring may have been for a frame that arrived
// after its last look, and the sleeper went back to sleep.
func (r *pollReceiver) tookMissed() bool {
	return r.missed.Load() && r.missed.Swap(false)
}

// missedToken is a sleeper's second try for the token after the doorbell
// woke it and found the token held. It marks the wake-up missed first, so
// that the holder, which looks at the mark only after it has left the
// token (see tookMissed), either sees the mark and rings again, or had
// left before this second try, which then takes the token.
func (r *pollReceiver) missedToken() bool {
	r.missed.Store(true)
	if r.tok.TryLock() {
		r.missed.Store(false) // this reader looks itself now
		return true
	}
	return false
}

// wake rings this side's own doorbell for the sleeper, marked as this
// side's (see reader.sleep).
func (r *pollReceiver) wake() {
	r.woken.Store(true)
	r.p.Wake()
}

// reader is one reader goroutine's own state. Readers never block on the
// token: one that finds it held goes (back) to sleep, which is safe
// because the holder arms the transport when it leaves, so that the next
// frame wakes the sleeper.
type reader struct {
	r *pollReceiver
	// held: the token, retaken right after the response of a call this
	// reader ran (see retakeToken); the next round goes on with it.
	held bool
	// idle: the last wake-up was for nothing: look once, do not poll the
	// budget. rung: the doorbell woke it (see missedToken).
	idle, rung bool
	// covered: the call it runs has a sleeper behind it on an armed link
	// (see leaveToRun).
	covered bool
	// ranCall: the reader has just run a call; its next round notes the
	// call's arrival (see receive).
	ranCall bool
	// promote fires watch while the reader runs calls uncovered; made
	// when the reader starts (see read).
	promote *time.Timer
	// calls counts the calls the reader began running uncovered, twice
	// each: it is odd while one runs. watching: the promote timer is set,
	// or watch is deciding whether to set it again. seen and promoted are
	// watch's: the count at its last firing, and at the call it last
	// started a reader for.
	calls, seen, promoted atomic.Uint64
	watching              atomic.Bool
	// running is the handler of the call begin counted last: the one
	// running when watch finds a call still running, which it marks
	// blocked (see handlerCost).
	running atomic.Pointer[handler]
	// retake is retakeToken, bound once: the hook finishServer calls
	// after it sent the response of a call this reader runs.
	retake func()
}

// newReader is a reader goroutine's state. Its promote timer is made
// here, stopped, not by the first call's begin: a timer made and set
// there could fire, and watch read the field, before begin had stored it.
func (r *pollReceiver) newReader() *reader {
	rd := &reader{r: r}
	rd.retake = rd.retakeToken
	rd.promote = time.AfterFunc(time.Hour, rd.watch)
	rd.promote.Stop()
	return rd
}

// read is one reader goroutine.
func (r *pollReceiver) read() {
	rd := r.newReader()
	defer func() {
		rd.promote.Stop()
		// A link left disarmed (leaveToRun) holds a reference to the
		// transport until a token holder arms it: the last reader out
		// does so.
		if rd.held || r.tok.TryLock() {
			r.leave()
		}
	}()
	for !r.s.ended() {
		rung := rd.rung
		rd.rung = false
		if rd.held || r.tok.TryLock() || (rung && r.missedToken()) {
			job, ok := rd.receive()
			if !ok {
				return
			}
			if job.ch != nil {
				rd.runCall(job)
				continue
			}
		}
		if !rd.sleep() {
			return
		}
	}
}

// receive is a reader's round with the token: it polls, leaves, and
// returns the call it took to run, if any; false once the session is
// over.
func (rd *reader) receive() (serveJob, bool) {
	r := rd.r
	r.readerHolds.Store(true) // (the first TryRecv disarms the link)
	rd.held = false
	r.inline = true
	budget := r.readBudget()
	if rd.idle {
		// Still through the token, Disarm and leave, which keep the
		// doorbell protocol whole: only the budget shrinks.
		budget, rd.idle = 0, false
	}
	err, fromDispatch := r.pollRead(budget, rd.ranCall)
	rd.ranCall = false
	r.inline = false
	job := r.job
	r.job = serveJob{}
	if job.ch != nil && err == nil {
		rd.leaveToRun()
		return job, true
	}
	r.leave()
	if err != nil {
		r.s.disp.recvFailed(err, fromDispatch)
		return serveJob{}, false
	}
	return job, true
}

// pollRead receives and dispatches frames with the token held until the
// budget passes with nothing received, a caller wants the token, or it
// took a call to run with nothing behind it. It returns a receive error,
// or a dispatch error (fromDispatch), which the reader handles after
// leaving.
func (r *pollReceiver) pollRead(budget time.Duration, ranCall bool) (err error, fromDispatch bool) {
	s := r.s
	// A call the reader ran counts as having come at the first look at
	// the clock: a clock read of its own, on every call, would cost
	// more than the handler of a hot one. A call that comes before any
	// look (a hot loop's next) is not noted, and needs not be: the read
	// budget only stretches for calls further apart (see readBudget).
	clk := pollClock{calls: ranCall}
	for i := 1; ; i++ {
		ok, err := r.p.TryRecv(&r.f)
		if err != nil {
			return err, false
		}
		if ok {
			if r.job.ch != nil {
				// A call taken from the previous frame, and more frames
				// behind it: the link is busy, so the call gets a
				// goroutine of its own and this reader goes on
				// receiving. Calls run on the reader when the link is
				// otherwise idle, where that saves a hand-off, and when
				// their handler is cheap (see inline.go); a costlier
				// one would hold up the frames behind it.
				j := r.job
				r.job = serveJob{}
				s.srv.spawn(j)
			}
			s.rxFrames.Add(1)
			call := r.f.Desc.Kind() == wire.KindOpen
			pushes := s.ctl.pushes.Load()
			if st := s.disp.dispatch(&r.f); st != nil {
				return st, true
			}
			i = 0
			if r.job.ch != nil {
				// A call to run on this reader now if its handler is
				// cheap, else if nothing waits behind it: look at once,
				// without reading the clock (the reader's next round
				// notes its arrival) and, unless the dispatch queued a
				// frame for the writer (a credit grant, which the peer
				// may be waiting for), without yielding.
				if s.ctl.pushes.Load() != pushes {
					runtime.Gosched()
				}
				if r.job.h.cheap() {
					return nil, false // run it now, frames behind or not (see inline.go)
				}
				continue
			}
			clk.frame(call)
		} else if r.job.ch != nil {
			return nil, false // nothing behind it: run it on this reader
		}
		if r.want.Load() > 0 {
			return nil, false // a reader yields to a waiting caller
		}
		if i&15 == 0 {
			if clk.due(i, budget) {
				idle := clk.idle()
				if clk.calls {
					clk.noteCalls(r)
				}
				if idle >= budget {
					return nil, false
				}
			}
			if i%yieldEvery == 0 {
				runtime.Gosched()
			}
		}
	}
}

// pollClock is a polling loop's sense of time: how long it has gone
// without a frame. The clock is read only when the loop looks at its
// budget (see due), not on every frame, nor when the loop starts: under
// load, frames come faster than a clock read costs (about a tenth of the
// CPU of 64 concurrent callers went to reading it), and a lone caller's
// response, or a reader's next call, mostly comes within the first 64
// polls, before any look. The first look starts the clock, so a budget
// runs up to 64 polls longer than it says; a frame seen since the last
// look counts as having come at that look, so it also runs at most 64
// polls longer than measured from the frame itself.
type pollClock struct {
	// Times are offsets from base, itself an offset from monoEpoch:
	// time.Since reads only the monotonic clock, half the cost of
	// time.Now (which reads the wall clock too) on a VM's kvm-clock.
	base    time.Duration
	started bool          // base is set: the loop has looked once
	last    time.Duration // when the last frame was seen (or the first look)
	at      time.Duration // when the loop last looked
	seen    bool          // a frame came since the last look
	calls   bool          // an OPEN among them
}

// due says whether a loop that has polled i times without a frame (a
// multiple of 16: it yields then) looks at its budget now: every 64
// polls, since a clock read costs several empty polls on a virtual
// machine; every 16 for a budget of zero, one pass of the loop.
func (c *pollClock) due(i int, budget time.Duration) bool { return i&63 == 0 || budget == 0 }

// frame notes a frame; call: an OPEN.
func (c *pollClock) frame(call bool) {
	c.seen = true
	c.calls = c.calls || call
}

// idle reads the clock and returns the time since the last frame (since
// the first look, if none came after it). It inlines (a clock read is its
// one call), so that the look costs a polling loop no frame; a call seen
// since the last look is noted after it (see noteCalls).
func (c *pollClock) idle() time.Duration {
	if !c.started {
		c.base, c.started, c.last, c.seen = time.Since(monoEpoch), true, 0, false
		return 0
	}
	now := time.Since(monoEpoch) - c.base
	c.at = now
	if c.seen {
		c.last, c.seen = now, false
	}
	return now - c.last
}

// elapsed is how long the loop had polled at its last look: 0 if it never
// looked (it ended within 64 polls of starting).
func (c *pollClock) elapsed() time.Duration { return c.at }

// noteCalls notes, after a look (idle), that a call (an OPEN) came since
// the one before, for r's read budget (see arrived): it counts as having
// come at the look.
func (c *pollClock) noteCalls(r *pollReceiver) {
	c.calls = false
	r.arrived(c.base + c.last)
}

// runCall runs a call the reader took, on this goroutine.
//
// Another reader must receive while this one runs the handler, but
// starting one now would put a goroutine wake-up in front of every call.
// Most handlers return long before promoteAfter; one that blocks gets a
// reader started behind it then (see watch). With a sleeper on the
// doorbell, frames that arrive meanwhile wake it (the link is armed): no
// watch needed.
func (rd *reader) runCall(job serveJob) {
	r := rd.r
	covered := rd.covered
	if !covered {
		rd.begin(job.h)
	}
	job.after = rd.retake
	if next, more := r.s.srv.serve(job); more {
		r.s.srv.spawn(next) // this reader goes on receiving
	}
	if !covered {
		rd.calls.Add(1) // even: done
		r.unarmed.Add(-1)
	}
	rd.ranCall = true
}

// begin counts an uncovered call (odd: running) and sets the promote
// timer unless it is set already.
func (rd *reader) begin(h *handler) {
	if rd.running.Load() != h {
		rd.running.Store(h) // (a locked instruction: not on every call of a run)
	}
	c := rd.calls.Add(1)
	if !rd.watching.Load() && rd.watching.CompareAndSwap(false, true) {
		// No firing is due: the first fires promoteAfter from now and
		// finds this call still running, or not.
		rd.seen.Store(c)
		rd.promote.Reset(rd.r.promoteAfter)
	}
}

// watch is the promote timer's function. It starts a reader (ensureReader)
// when the call running at its last firing is still running, so that a
// handler that blocks or calls back holds the link at most 2 promoteAfter
// (promoteAfter after the first call of a run). The timer is set once
// for a run of calls, not once a call: a timer's Reset and Stop took
// their locks and read the clock on every call's path, a tenth of a
// microsecond before the handler ran. It stops when no call is running,
// or the one running has its reader.
//
// runCall counts a call (odd) and then looks at watching; watch clears
// watching and then looks at the count, so either runCall sets the timer
// or watch sees its call (a Dekker handshake; Go's atomics are
// sequentially consistent).
func (rd *reader) watch() {
	for {
		c := rd.calls.Load()
		if c&1 == 1 && c != rd.promoted.Load() {
			if c != rd.seen.Load() {
				// This call began since the last firing.
				rd.seen.Store(c)
				rd.promote.Reset(rd.r.promoteAfter)
				return
			}
			rd.promoted.Store(c)
			if h := rd.running.Load(); h != nil {
				h.cost.blocked() // towards sending its calls to workers (see inline.go)
			}
			rd.r.ensureReader()
		}
		rd.watching.Store(false)
		c = rd.calls.Load()
		if c&1 == 0 || c == rd.promoted.Load() || !rd.watching.CompareAndSwap(false, true) {
			return
		}
		// A call began as it stopped, and left the timer to it.
	}
}

// retakeToken takes the token back right after the response of a call the
// reader ran has gone out (finishServer), before the caller's next call
// can ring.
func (rd *reader) retakeToken() { rd.held = rd.r.takeToken() }

// leaveToRun gives the token up before the reader runs the call it took
// (runCall). With a sleeper on the doorbell it arms the link, as leave
// does, so that frames arriving while the handler runs wake the sleeper
// (covered). Without one, arming would only make the peer ring a doorbell
// nobody waits on, a write and an fcntl on the peer's side for every call
// that arrives meanwhile (64 concurrent callers rang once in 11 calls),
// so the link stays disarmed and the reader's promote timer covers the
// handler instead, as it did already. The reader takes the token back
// after the response, or whoever holds it then arms on leaving; a reader
// that ends holding it leaves first (see read).
//
// The sleeper is looked at with the token held: a reader that becomes
// the sleeper later finds the link disarmed, and the promote timer (or a
// goroutine about to wait for credit) rings it (see ensureReader).
func (rd *reader) leaveToRun() {
	r := rd.r
	rd.covered = r.sleeper.Load()
	if rd.covered {
		r.leave()
		return
	}
	r.unarmed.Add(1) // until the call has run (see ensureReader)
	r.tok.Unlock()
	if r.tookMissed() {
		r.wake()
	}
}

// sleep waits for frames: on the doorbell as the sleeper, or on spareWake
// if another reader sleeps there. It reports false if this reader is to
// exit (spares enough already, or the session is over).
func (rd *reader) sleep() bool {
	r := rd.r
	r.mu.Lock()
	if r.sleeper.Load() {
		if r.spares >= maxSpares {
			r.mu.Unlock()
			return false
		}
		r.spares++
		r.mu.Unlock()
		select {
		case <-r.spareWake:
			return true
		case <-r.s.done:
			return false
		}
	}
	r.sleeper.Store(true)
	r.mu.Unlock()
	// Goroutines this reader made runnable (callers whose responses it
	// dispatched) run first, on this thread: Wait blocks the thread in
	// the kernel, and they would wait for another thread to be woken to
	// run them, a second wake-up through the kernel behind the doorbell's.
	runtime.Gosched()
	r.waiting.Store(true)
	err := r.p.Wait(idleWait)
	r.waiting.Store(false)
	r.mu.Lock()
	r.sleeper.Store(false)
	r.mu.Unlock()
	// An honest peer rings only after it has published a frame, and this
	// side only through wake. A ring with neither (a peer writing to the
	// doorbell in a loop) must not buy a poll of the spin budget each:
	// that would turn a microsecond of the peer's into tens of this
	// side's. (Skipping the look altogether lost a wake-up in about one
	// call in 10^5; a look costs what a ring does.)
	rd.rung = err == nil
	rd.idle = err == nil && !r.woken.Swap(false) && !r.p.Pending()
	if err != nil {
		// The link is down: the token holder, or this reader's next
		// round, drains what the peer sent before and ends the session.
		// Do not spin meanwhile.
		runtime.Gosched()
	}
	return true
}

// yieldEvery is how many polls without a frame a polling loop makes
// between yields of its processor (runtime.Gosched), which let the
// goroutines its dispatches made runnable (callers whose responses came,
// workers given calls) run. A yield costs as much as a dozen polls, and a
// frame that arrives during one waits for it: yielding every 16 polls, a
// lone caller's round trip took 2.2-2.3 us against 2.1 every 64 polls
// (1.9 every 256 on both sides, but then 64 concurrent callers made a
// fifth fewer calls: the serving side's workers waited for the reader's
// yields). Every 32 rather than 64 (December 2026, once blocked callers
// had become cheaper to wake, see ctxWatch): 64 callers 5-11 % more
// calls a second, 11 of 14 interleaved pairs higher, a lone caller and
// the loaded conditions within their spread. A multiple of 16: the
// loops look at it every 16 polls.
const yieldEvery = 32

// loneYieldEvery is yieldEvery for a caller that polls while no other
// caller waits: only its own response matters, and a yield delays it.
// 0.1 us off a lone call's round trip (2.2 -> 2.05 us at the median, in
// four interleaved runs), 64 callers unchanged.
const loneYieldEvery = 256

// promoteAfter is how long a handler may run on a reader before another
// reader is started to receive behind it. Go timers this short may fire
// up to a millisecond late when every processor is idle, which bounds how
// long a blocking handler delays the calls queued behind it.
const promoteAfter = 50 * time.Microsecond

// idleWait bounds one sleep of an idle reader (a lost wake-up could stall
// the link no longer); the link's death and Close end it at once.
const idleWait = time.Minute

// blocking makes sure that someone receives while the caller waits for
// credit: a handler run on a reader (runCall) that fills its window would
// otherwise wait for the CREDIT frame behind it until the reader's
// promote timer fired, which Go may fire a millisecond late when the
// processors idle (a unary 1 MiB response: its frame's cost passes the
// link's window, and each call waited for the grant: 1.3 ms at p99
// against 0.15 just under it, BenchmarkSession1MiB/get). A sleeper
// receives already; otherwise a reader is started (or a spare woken),
// which costs a goroutine only on this slow path.
func (r *pollReceiver) blocking() { r.ensureReader() }

// ensureReader makes sure that a reader other than the caller (which is
// about to run a handler) will receive.
//
// A sleeper receives already, if the link is armed. While a reader runs a
// call on a link it left disarmed (leaveToRun), a sleeper that came after
// it looked sleeps through the frames, and is rung.
func (r *pollReceiver) ensureReader() {
	r.mu.Lock()
	if r.sleeper.Load() {
		r.mu.Unlock()
		if r.unarmed.Load() > 0 || r.lazy.open.Load() {
			r.wake()
		}
		return
	}
	if r.spares > 0 {
		r.spares--
		r.mu.Unlock()
		r.spareWake <- struct{}{} // buffered for every counted spare
		return
	}
	r.mu.Unlock()
	go r.read()
}

// wokeYieldEvery: a caller whose call rang the peer's doorbell (the peer's
// reader was parked: channel.woke) gives up its processor to the kernel
// every wokeYieldEvery it waits, and polls for maxCallSpin whatever its
// budget. The kernel may queue the peer's woken thread on the caller's
// processor, where a polling caller keeps it from running until the
// caller's own budget ends; and where it puts it on the other processor,
// which has gone idle, a virtual machine may take a few hundred
// microseconds to run it, and a caller that parks meanwhile costs the
// response a second such wake-up. Calls 1 ms apart (`peerloop -gap 1ms`)
// went from p90 210 and p99 430 us to p90 60-73 and p99 260 us, and a lone
// caller beside two busy loops from p99 32-232 to 3-4 us (BENCHMARKS.md).
// A hot call, whose peer polls, rings nothing and never yields.
const wokeYieldEvery = 5 * time.Microsecond

// maxCallSpin caps a caller's polling budget (see callBudget).
const maxCallSpin = 200 * time.Microsecond

// callBudget is how long a caller polls for its response: about twice
// the time responses have recently taken to arrive, at least the
// transport's spin budget and at most maxCallSpin, and zero if the
// transport asks for no spinning. When the peer has parked, its wake-up
// through the kernel takes tens of microseconds on a virtual machine
// whose processors halt when idle; a caller that stopped polling before
// the response came would add a second such wake-up on its own side, and
// the hand-off from a reader goroutine, to every sporadic call. Polling
// costs nothing once the response is there, and idle links poll not at
// all. While contention holds (see contention) it is zero for a call whose
// request rang the peer's doorbell (woke: its reader was parked), and
// contendedSpin for one whose peer was polling: a caller that polls
// longer then only keeps its peer's thread from the processor.
func (r *pollReceiver) callBudget(woke bool) time.Duration {
	if r.spin <= 0 {
		return 0
	}
	if r.contention.holds() {
		if woke {
			return 0
		}
		return contendedSpin
	}
	return min(max(2*time.Duration(r.respTime.Load()), r.spin), r.maxCallSpin)
}

// contendedSpin is the polling budget, while contention holds, of a
// caller whose request found the peer's reader polling (it rang no
// doorbell): about twice a hot round trip's, so that such a call still
// takes its response without a doorbell. A mark can be a false alarm: an
// idle machine preempts a poller now and then too (a kernel thread's
// turn), and with no polling at all every call made while the mark held,
// 50 ms, took a doorbell's wake-up, tens of microseconds on the 2-vCPU
// virtual machine, where that happened a few times a second: a tenth or
// more of an idle link's calls, and a p90 of 17-28 us against 2 (the
// peers comparison's idle rounds). Beside busy loops the peer's reader
// has mostly parked by the time the next call comes, so the request rings
// and its caller polls not at all, as before: there the woken thread is
// likely queued behind the caller on the caller's own processor.
const contendedSpin = 5 * time.Microsecond

// maxReadSpin caps a reader's polling budget (see readBudget).
const maxReadSpin = 200 * time.Microsecond

// readBudget is how long a reader polls after the last frame before it
// parks: the transport's spin budget, or twice the recent time between
// calls when that is longer and still under maxReadSpin. A peer that
// calls every 50 us (it spends that long filling a 1 MiB lease, say) then
// finds the reader still polling, rather than paying for a doorbell and
// a wake-up through the kernel on every call, which on a virtual machine
// costs more than the gap itself. Only calls count: the frames of a
// stream (its data, the credit coming back) keep both sides busy already,
// and a reader spinning beside them takes a core from the stream's own
// goroutines on a small machine. Links whose calls come further apart, or
// not at all, park after the transport's budget as before.
func (r *pollReceiver) readBudget() time.Duration {
	if r.spin <= 0 {
		return 0
	}
	if g := 2 * time.Duration(r.gap.Load()); g > r.spin && g <= maxReadSpin {
		return g
	}
	return r.spin
}

// arrived folds the time since the previous call into gap; now is an
// offset from monoEpoch.
func (r *pollReceiver) arrived(now time.Duration) {
	if prev := r.lastRx.Swap(int64(now)); prev != 0 {
		g := r.gap.Load()
		r.gap.Store(g + (int64(now)-prev-g)/8)
	}
}

// observe folds the time a response took (or, if the caller gave up,
// twice its budget) into respTime.
func (r *pollReceiver) observe(d time.Duration) {
	old := r.respTime.Load()
	r.respTime.Store(old + (int64(d)-old)/8)
}
