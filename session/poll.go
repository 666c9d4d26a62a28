package session

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// On a transport that can be polled (transport.Poller: shared memory), no
// goroutine is dedicated to receiving. Whoever waits for a frame receives:
// a caller waiting for its response polls the link itself for the spin
// budget, and reader goroutines cover the rest. A hand-off from a reader
// goroutine to the caller would cost more than the whole round trip on
// shared memory (see BENCHMARKS.md).
//
// The token (tok) is the right to receive. Its holder polls with TryRecv,
// dispatches, and on leaving arms the transport, so that the peer's next
// frame rings the doorbell of the one reader sleeping in WaitReadable (the
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
type readers struct {
	p    transport.Poller
	spin time.Duration // readers' polling budget: the transport's
	// respTime is a moving average (ns) of how long callers polled until
	// their response came; see callBudget.
	respTime atomic.Int64
	tok      sync.Mutex

	want        atomic.Int32    // callers waiting to take the token from a reader
	waiters     atomic.Int32    // callers blocked on their channels (see leaveCaller)
	readerHolds atomic.Bool     // the token holder is a reader goroutine
	f           transport.Frame // receive scratch, owned by the token holder
	// epoch is when the readers started; lastRx is when the last call (an
	// OPEN) arrived, as an offset from epoch (0: none yet), and gap a
	// moving average of the time between calls (see readBudget), both in
	// nanoseconds. Atomic: a reader notes a call it ran after serving it,
	// token or not.
	epoch  time.Time
	lastRx atomic.Int64
	gap    atomic.Int64
	inline bool     // the token holder may take a call to run itself
	job    serveJob // the call it took (job.ch != nil)

	// woken is set by this side before it rings its own doorbell (see
	// wake): a wake-up without it, and with nothing in the ring, came
	// from the peer for nothing.
	woken atomic.Bool

	mu        sync.Mutex
	sleeper   bool // a reader is in (or committed to) WaitReadable
	spares    int  // readers waiting on spareWake
	spareWake chan struct{}
}

// maxSpares bounds the idle readers kept beyond the sleeper; more exit.
const maxSpares = 4

type serveJob struct {
	ctx  context.Context
	stop func()
	ch   *channel
	h    *handler
}

func (s *Session) startReaders(p transport.Poller) {
	s.rd = &readers{p: p, spin: p.SpinBudget(), spareWake: make(chan struct{}, maxSpares), epoch: time.Now()}
	go s.pollReader()
	go s.pollReader()
}

func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// pollReader is one reader goroutine. Readers never block on the token:
// one that finds it held goes (back) to sleep, which is safe because the
// holder arms the transport when it leaves, so that the next frame wakes
// the sleeper.
func (s *Session) pollReader() {
	r := s.rd
	held := false // the token, kept from the handler's response (see finishServer)
	idle := false // the last wake-up was for nothing: look once, do not poll the budget
	var promote *time.Timer
	defer func() {
		if promote != nil {
			promote.Stop()
		}
	}()
	for !s.ended() {
		if held || r.tok.TryLock() {
			r.readerHolds.Store(true)
			if !held {
				r.p.Disarm()
			}
			held = false
			r.inline = true
			budget := r.readBudget()
			if idle {
				// Still through the token, Disarm and leave, which keep
				// the doorbell protocol whole: only the budget shrinks.
				budget, idle = 0, false
			}
			err, fromDispatch := s.pollUntil(nil, nil, budget)
			r.inline = false
			job := r.job
			r.job = serveJob{}
			s.leave()
			if err != nil {
				s.recvFailed(err, fromDispatch)
				return
			}
			if job.ch != nil {
				// Another reader must receive while this one runs the
				// handler, but starting one now would put a goroutine
				// wake-up in front of every call. Most handlers return
				// long before promoteAfter; one that blocks gets a
				// reader started behind it then.
				// With a sleeper on the doorbell, frames that arrive
				// meanwhile wake it (the link is armed): no timer needed,
				// which keeps timer operations (and the system call
				// that can come with them) off the hot path.
				r.mu.Lock()
				covered := r.sleeper
				r.mu.Unlock()
				if !covered {
					if promote == nil {
						promote = time.AfterFunc(time.Hour, s.ensureReader)
					}
					promote.Reset(promoteAfter)
				}
				job.ch.retake = true
				var next serveJob
				var more bool
				held, next, more = s.serve(job.ctx, job.stop, job.ch, job.h)
				if more {
					s.spawn(next) // this reader goes on receiving
				}
				if !covered {
					promote.Stop()
				}
				// The call's arrival, noted once it has been served
				// (see pollUntil).
				r.arrived(time.Since(r.epoch))
				continue
			}
		}
		r.mu.Lock()
		if r.sleeper {
			if r.spares >= maxSpares {
				r.mu.Unlock()
				return
			}
			r.spares++
			r.mu.Unlock()
			select {
			case <-r.spareWake:
				continue
			case <-s.done:
				return
			}
		}
		r.sleeper = true
		r.mu.Unlock()
		err := r.p.WaitReadable(idleWait)
		r.mu.Lock()
		r.sleeper = false
		r.mu.Unlock()
		// An honest peer rings only after it has published a frame, and
		// this side only through wake. A ring with neither (a peer
		// writing to the doorbell in a loop) must not buy a poll of the
		// spin budget each: that would turn a microsecond of the peer's
		// into tens of this side's. (Skipping the look altogether lost a
		// wake-up in about one call in 10^5; a look costs what a ring
		// does.)
		idle = err == nil && !r.woken.Swap(false) && !r.p.Pending()
		if err != nil {
			// The link is down: the token holder, or this reader's next
			// round, drains what the peer sent before and ends the
			// session. Do not spin meanwhile.
			runtime.Gosched()
		}
	}
}

// promoteAfter is how long a handler may run on a reader before another
// reader is started to receive behind it. Go timers this short may fire
// up to a millisecond late when every processor is idle, which bounds how
// long a blocking handler delays the calls queued behind it.
const promoteAfter = 50 * time.Microsecond

// idleWait bounds one sleep of an idle reader (a lost wake-up could stall
// the link no longer); the link's death and Close end it at once.
const idleWait = time.Minute

// ensureReader makes sure that a reader other than the caller (which is
// about to run a handler) will receive.
func (s *Session) ensureReader() {
	r := s.rd
	r.mu.Lock()
	if r.sleeper {
		r.mu.Unlock()
		return
	}
	if r.spares > 0 {
		r.spares--
		r.mu.Unlock()
		r.spareWake <- struct{}{} // buffered for every counted spare
		return
	}
	r.mu.Unlock()
	go s.pollReader()
}

// leave gives the token up. The transport is armed first, so that the
// peer rings for its next frame; frames that arrived before that will not
// ring, so the sleeper is woken for them. It is woken after the token is
// free, and the ring is checked again then: a sleeper woken by the peer
// between Arm and Unlock found the token held and went back to sleep.
func (s *Session) leave() {
	r := s.rd
	pending := r.p.Arm()
	r.tok.Unlock()
	if pending || r.p.Pending() {
		r.wake()
	}
}

// wake rings this side's own doorbell for the sleeper, marked as this
// side's (see pollReader).
func (r *readers) wake() {
	r.woken.Store(true)
	r.p.WakeReader()
}

// leaveCaller is leave for a caller that got what it polled for. If other
// callers are blocked waiting for their responses, the sleeper is woken
// to go on polling for them: under many concurrent calls a reader that
// polls for everyone (and whose budget each frame renews) beats callers
// taking turns, each turn ending in a doorbell.
func (s *Session) leaveCaller() {
	r := s.rd
	pending := r.p.Arm()
	r.tok.Unlock()
	if pending || r.waiters.Load() > 0 || r.p.Pending() {
		r.wake()
	}
}

// pollUntil receives and dispatches frames with the token held until done
// reports true (a caller's channel has news), the spin budget passes with
// nothing received, ctx ends, or a reader took a call to run. It returns
// a receive error, or a dispatch error (fromDispatch), which the caller
// handles after leaving.
func (s *Session) pollUntil(done func() bool, ctx context.Context, budget time.Duration) (err error, fromDispatch bool) {
	r := s.rd
	// Times are offsets from base: time.Since reads only the monotonic
	// clock, half the cost of time.Now on a VM's kvm-clock.
	base := time.Now()
	var last time.Duration // when the last frame came (or polling began)
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
				// receiving. Calls run on the reader only when the link
				// is otherwise idle, where that saves a hand-off;
				// under load it would cost a doorbell per call.
				j := r.job
				r.job = serveJob{}
				s.spawn(j)
			}
			s.rxFrames.Add(1)
			call := r.f.Desc.Kind() == wire.KindOpen
			pushes := s.ctl.pushes.Load()
			if st := s.dispatch(&r.f); st != nil {
				return st, true
			}
			i = 0
			if r.job.ch != nil {
				// A call to run on this reader if nothing waits behind
				// it: look at once, without reading the clock
				// (pollReader notes its arrival after it has run) and,
				// unless the dispatch queued a frame for the writer
				// (a credit grant, which the peer may be waiting for),
				// without yielding.
				if s.ctl.pushes.Load() != pushes {
					runtime.Gosched()
				}
				continue
			}
			last = time.Since(base)
			if call {
				r.arrived(base.Sub(r.epoch) + last)
			}
		} else if r.job.ch != nil {
			return nil, false // nothing behind it: run it on this reader
		}
		if done != nil && done() {
			return nil, false
		}
		if done == nil && r.want.Load() > 0 {
			return nil, false // a reader yields to a waiting caller
		}
		if i&15 == 0 {
			if time.Since(base)-last >= budget {
				return nil, false
			}
			if ctx != nil && ctx.Err() != nil {
				return nil, false
			}
			// Let goroutines this P made runnable (callers woken by a
			// dispatch, say) run while we poll.
			runtime.Gosched()
		}
	}
}

// takeToken takes the token if it is free, right after this goroutine
// sent something whose answer it will wait for: the sooner the link is
// disarmed, the likelier the answer arrives without a doorbell (which
// would cost the peer a system call and wake a reader here for nothing).
// Nothing may be sent while the token is held: with the token held by
// senders on both sides and both rings full, neither side would read.
func (s *Session) takeToken() bool {
	r := s.rd
	if r == nil || !r.tok.TryLock() {
		return false
	}
	r.readerHolds.Store(false)
	r.p.Disarm()
	return true
}

// pollFor lets a goroutine waiting on ch receive for itself if nobody else
// is (or with the token it already holds, ch.token). It reports whether ch
// was signalled meanwhile; false means the caller should block on ch.wake
// as usual.
func (s *Session) pollFor(ch *channel, ctx context.Context) bool {
	r := s.rd
	if r == nil {
		return false
	}
	if ch.token {
		ch.token = false
	} else if !s.takeToken() {
		if !s.claimToken(ch) {
			return false
		}
	}
	got := false
	budget := r.callBudget()
	t0 := time.Now()
	err, fromDispatch := s.pollUntil(func() bool {
		select {
		case <-ch.wake:
			got = true
		default:
		}
		return got
	}, ctx, budget)
	s.leaveCaller()
	if got {
		r.observe(time.Since(t0))
	} else if err == nil && ctx.Err() == nil {
		r.observe(2 * budget)
	}
	if err != nil {
		s.recvFailed(err, fromDispatch)
		return true // the session is over; ch has its final status
	}
	return got
}

// recvFailed ends the session over a receive error or, fromDispatch, a
// frame that dispatch refused.
func (s *Session) recvFailed(err error, fromDispatch bool) {
	if fromDispatch {
		s.dispatchFailed(err.(*plexus.Status))
		return
	}
	s.die(classifyRecv(err))
}

// claimToken asks a reader goroutine that holds the token to leave it to
// this waiting caller, and waits for it within the spin budget: a reader
// that receives the response would otherwise have to wake the caller, a
// hand-off that costs more than the round trip. It reports false if the
// token did not come or ch was signalled meanwhile (then the caller
// re-checks ch).
func (s *Session) claimToken(ch *channel) bool {
	r := s.rd
	if r.waiters.Load() > 0 || !r.readerHolds.Load() {
		// Other calls wait too, or a caller holds the token: it will
		// dispatch this response along with its own, and a reader will
		// take over for the rest (leaveCaller).
		return false
	}
	r.want.Add(1)
	defer r.want.Add(-1)
	start := time.Now()
	for i := 1; ; i++ {
		if len(ch.wake) > 0 {
			return false
		}
		if s.takeToken() {
			return true
		}
		if i&15 == 0 {
			if time.Since(start) >= r.spin {
				return false
			}
			runtime.Gosched()
		}
	}
}

// dropToken gives up a token that a caller took after sending (see
// takeToken) and did not use to poll.
func (ch *channel) dropToken() {
	if ch.token {
		ch.token = false
		ch.s.leaveCaller()
	}
}

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
// all.
func (r *readers) callBudget() time.Duration {
	if r.spin <= 0 {
		return 0
	}
	return min(max(2*time.Duration(r.respTime.Load()), r.spin), maxCallSpin)
}

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
func (r *readers) readBudget() time.Duration {
	if r.spin <= 0 {
		return 0
	}
	if g := 2 * time.Duration(r.gap.Load()); g > r.spin && g <= maxReadSpin {
		return g
	}
	return r.spin
}

// arrived folds the time since the previous call into gap; now is an
// offset from epoch.
func (r *readers) arrived(now time.Duration) {
	if prev := r.lastRx.Swap(int64(now)); prev != 0 {
		g := r.gap.Load()
		r.gap.Store(g + (int64(now)-prev-g)/8)
	}
}

// observe folds the time a response took (or, if the caller gave up,
// twice its budget) into respTime.
func (r *readers) observe(d time.Duration) {
	old := r.respTime.Load()
	r.respTime.Store(old + (int64(d)-old)/8)
}
