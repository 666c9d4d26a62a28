package shm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/ring"
	"github.com/plexus-ipc/plexus/wire"
)

// Endpoint is one side's use of a segment: it sends on its own direction's
// ring with payloads from its own pool, and receives from the other ring,
// resolving payloads in the peer's pool and freeing them back to it.
type Endpoint struct {
	seg  *Segment
	side Side
	tx   *ring.Producer
	rx   *ring.Consumer
	own  *Pool // slots this side allocates and sends
	peer *Pool // slots the peer sent; this side frees them

	dataOut  *Bell // wakes the peer's receiver
	dataIn   *Bell // this side's receiver parks here
	spaceIn  *Bell // this side's senders park here (ring space or own slots)
	spaceOut *Bell // wakes the peer's senders

	spaceGate chan struct{} // one goroutine at a time waits for ring space (see awaitSpace)
	allocGate chan struct{} // one goroutine at a time waits for a slot (see Alloc)
	down      chan struct{} // closed by Interrupt: slot waiters give up
	downOnce  sync.Once
	spin      time.Duration
	wait      time.Duration
	life      lifeWatch     // see WatchPeerLife
	rang      atomic.Uint64 // pushes that rang dataOut (see Rang)
}

// Endpoint returns this process's side of the link. It may be called once.
func (s *Segment) Endpoint() (*Endpoint, error) {
	if s.m == nil {
		return nil, errors.New("shm: segment not mapped (CreateDeferred's finish has not run, or Close has)")
	}
	tx, rx := s.side.tx(), s.side.rx()
	l := &s.m.layout
	p, err := ring.NewProducer(s.m.rings[tx], l.RingCapacity[tx])
	if err != nil {
		return nil, err
	}
	c, err := ring.NewConsumer(s.m.rings[rx], l.RingCapacity[rx])
	if err != nil {
		return nil, err
	}
	// The rings ring the other side themselves: Push the peer's
	// receiver when it parked, Pop the peer's senders when they wait.
	p.SetDoorbell(s.bells[0][tx])
	c.SetDoorbell(s.bells[1][rx])
	s.startFill()
	return &Endpoint{
		seg: s, side: s.side, tx: p, rx: c,
		own: s.m.pools[tx], peer: s.m.pools[rx],
		dataOut: s.bells[0][tx], dataIn: s.bells[0][rx],
		spaceIn: s.bells[1][tx], spaceOut: s.bells[1][rx],
		spin: s.cfg.Spin, wait: s.cfg.Wait,
		allocGate: make(chan struct{}, 1),
		spaceGate: make(chan struct{}, 1),
		down:      make(chan struct{}),
	}, nil
}

// Side reports which end of the link this is.
func (e *Endpoint) Side() Side { return e.side }

// Pool returns the pool this side allocates from.
func (e *Endpoint) Pool() *Pool { return e.own }

// PeerPool returns the pool the peer allocates from.
func (e *Endpoint) PeerPool() *Pool { return e.peer }

// WaitLimit is the configured bound on waits for ring space and slots
// (Config.Wait after defaults). A layer that reports such a wait's end
// names the bound it waited for.
func (e *Endpoint) WaitLimit() time.Duration { return e.wait }

// Spin is the configured polling budget before parking: a receiver that
// polls the ring itself (see Arm) spends it as Recv would.
func (e *Endpoint) Spin() time.Duration { return e.spin }

// Send publishes descriptors in order, batching as many as fit with one
// index store, ringing the peer only if it parked. If the ring stays full
// for the configured wait it returns ErrTimeout with the count sent.
//
// The lock that serialises pushes is not held while a sender waits for
// space (nor while it rings), so other senders are not held up by it: a
// sender with a shorter deadline gives up at its own deadline, not at the
// end of another's wait. Descriptors of one call therefore keep their
// order but may be interleaved with other goroutines' when the ring fills.
func (e *Endpoint) Send(ds []wire.Desc) (int, error) {
	return e.SendContext(context.Background(), ds)
}

// SendContext is Send whose wait for ring space also ends when ctx is
// done, with ctx's error.
func (e *Endpoint) SendContext(ctx context.Context, ds []wire.Desc) (int, error) {
	sent := 0
	var deadline time.Time
	for {
		n, err := e.TrySend(ds[sent:])
		sent += n
		if err != nil || sent == len(ds) {
			return sent, protocolErr(err)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(e.wait)
		}
		if err := e.awaitSpace(ctx, deadline); err != nil {
			return sent, err
		}
	}
}

// TrySend is Send without waiting: it publishes as many of ds as the ring
// has room for (possibly none), ringing the peer if it parked. Counted
// descriptors are sent even when err (the doorbell's) is not nil; a
// corrupt ring is ring.ErrCorrupt, which the waiting methods report as
// ErrProtocol. It inlines: a transport's send goes from here straight
// into the ring, and the mapping would not fit.
func (e *Endpoint) TrySend(ds []wire.Desc) (int, error) {
	n, woke, err := e.tx.Push(wire.Cells(ds))
	if woke {
		e.rang.Add(1)
	}
	return n, err
}

// Rang counts the sends that found the peer's receiver parked and rang its
// doorbell: a sender that sees it move across its own send knows that the
// peer was asleep and is being woken (by its send or a concurrent one),
// and that the kernel may queue the peer's thread on the sender's own
// processor (see session's pollCall).
func (e *Endpoint) Rang() uint64 { return e.rang.Load() }

// awaitSpace spins, then parks on spaceIn until the tx ring has room. One
// goroutine waits at a time, as for slots (see Alloc): the waiting flag
// is one word for the whole process.
func (e *Endpoint) awaitSpace(ctx context.Context, deadline time.Time) error {
	if err := e.enterGate(ctx, e.spaceGate, deadline, ErrTimeout); err != nil {
		return err
	}
	defer func() { <-e.spaceGate }()
	return park(ctx, e.spin, deadline, e.spaceIn, ErrTimeout,
		func() (bool, error) {
			ok, err := e.tx.HasSpace()
			if err != nil {
				err = errRingCorrupt
			}
			return ok, err
		},
		e.tx.Arm, e.tx.Disarm)
}

// enterGate takes a one-waiter gate, waiting until deadline (then
// timeoutErr), the link's interruption (ErrClosed) or the end of ctx.
func (e *Endpoint) enterGate(ctx context.Context, gate chan struct{}, deadline time.Time, timeoutErr error) error {
	select {
	case gate <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case gate <- struct{}{}:
		return nil
	case <-timer.C:
		return timeoutErr
	case <-e.down:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv copies up to len(dst) descriptors into dst, waiting up to timeout
// for the first one (spin, then park). It returns ErrTimeout if none came.
// Recv must not be called concurrently with itself.
func (e *Endpoint) Recv(dst []wire.Desc, timeout time.Duration) (int, error) {
	n, err := e.TryRecv(dst)
	if n > 0 || err != nil {
		return n, protocolErr(err)
	}
	err = park(context.Background(), e.spin, time.Now().Add(timeout), e.dataIn, ErrTimeout,
		func() (bool, error) {
			ok, err := e.rx.Ready()
			if err != nil {
				err = errRingCorrupt
			}
			return ok, err
		},
		e.rx.Arm, e.rx.Disarm)
	if err != nil {
		return 0, err
	}
	n, err = e.TryRecv(dst)
	return n, protocolErr(err)
}

// protocolErr is err with a corrupt ring (ring.ErrCorrupt, from TrySend
// and TryRecv) reported as this package's ErrProtocol.
func protocolErr(err error) error {
	if err == ring.ErrCorrupt {
		return errRingCorrupt
	}
	return err
}

// TryRecv is Recv without waiting: it copies out whatever descriptors are
// in the ring (possibly none), ringing the peer's senders if they wait
// for space; counted descriptors are taken even when err (the
// doorbell's) is not nil. It must not be called concurrently with Recv
// or itself. After Interrupt it still drains the ring: descriptors the
// peer published before it went are there to take. Like TrySend it
// reports a corrupt ring as ring.ErrCorrupt, and inlines.
func (e *Endpoint) TryRecv(dst []wire.Desc) (int, error) {
	n, _, err := e.rx.Pop(wire.Cells(dst))
	return n, err
}

// A receiver may also split Recv's wait in two: one goroutine polls the
// ring with TryRecv while at most one other sleeps on the data doorbell,
// so that whoever polls when a descriptor arrives takes it without a
// wake-up. Arm, Pending, Disarm, Wait and Wake are that protocol;
// they may be called by any goroutine, concurrently with the one
// receiving.

// Arm announces that no goroutine of this side is polling the receive
// ring, so the peer must ring the data doorbell for its next descriptor.
// It reports whether descriptors are already waiting, in which case the
// caller must not rely on a ring and should receive them itself (after
// Disarm).
func (e *Endpoint) Arm() (pending bool) {
	e.rx.Arm()
	return e.rx.Pending()
}

// Pending reports whether descriptors wait in the receive ring.
func (e *Endpoint) Pending() bool { return e.rx.Pending() }

// Disarm withdraws Arm: a goroutine is polling again, and the peer may
// publish without ringing.
func (e *Endpoint) Disarm() { e.rx.Disarm() }

// Wait blocks on the data doorbell until it rings, timeout passes
// (ErrTimeout), or Interrupt closes it (ErrClosed). It does not look at
// the ring: wake-ups may be spurious, and Arm is the caller's business.
func (e *Endpoint) Wait(timeout time.Duration) error { return e.dataIn.Wait(timeout) }

// Wake rings this side's own data doorbell, waking a goroutine in
// Wait: a poller that stops while descriptors are waiting uses it to
// hand them to the sleeper.
func (e *Endpoint) Wake() error { return e.dataIn.Wake() }

// Alloc returns a slot of at least n bytes from this side's pool, waiting
// up to the configured wait for the peer to free one; then ErrExhausted.
//
// Goroutines wait for slots one at a time. The pool's waiting flag is one
// word for the whole process: with several waiters, one that finds a slot
// clears the flag on its way out while another is about to sleep, and the
// next free then rings nobody, so that goroutine would sleep until its
// wait expired. With one waiter at a time the flag is exact. A goroutine
// may thus wait up to twice the bound: once for its turn, once for a slot.
func (e *Endpoint) Alloc(n int) (Slot, error) {
	return e.AllocContext(context.Background(), n)
}

// TryAlloc is Alloc without the wait: ErrNoSlot when no slot of n bytes
// is free now.
func (e *Endpoint) TryAlloc(n int) (Slot, error) {
	return e.own.Alloc(n)
}

// AllocContext is Alloc whose wait for a slot also ends when ctx is done,
// with ctx's error.
func (e *Endpoint) AllocContext(ctx context.Context, n int) (Slot, error) {
	s, err := e.own.Alloc(n)
	if err != ErrNoSlot {
		return s, err
	}
	if err := e.enterGate(ctx, e.allocGate, time.Now().Add(e.wait), ErrExhausted); err != nil {
		return Slot{}, err
	}
	defer func() { <-e.allocGate }()
	deadline := time.Now().Add(e.wait)
	var allocErr error
	err = park(ctx, e.spin, deadline, e.spaceIn, ErrExhausted,
		func() (bool, error) {
			s, allocErr = e.own.Alloc(n)
			return allocErr != ErrNoSlot, nil
		},
		e.own.Arm, e.own.Disarm)
	if err != nil {
		return Slot{}, err
	}
	return s, allocErr
}

// FreeOwn returns a slot of this side's pool that was allocated and will
// not be sent. Unlike Release (which frees a peer's slot and wakes the
// peer's senders), it wakes this process's own senders if one of them
// announced that it waits for a slot.
func (e *Endpoint) FreeOwn(index, gen uint32) error {
	wake, err := e.own.Free(index, gen)
	if wake {
		// The bell may be closed by Interrupt; the waiter then wakes
		// anyway, so the error carries no information.
		_ = e.spaceIn.Wake()
	}
	return err
}

// Resolve validates the payload reference of a received descriptor and
// returns the payload: a view into d for inline payloads, a view into the
// peer's slot otherwise. It never reads outside the segment.
func (e *Endpoint) Resolve(d *wire.Desc) ([]byte, error) {
	return resolvePayload(d, e.peer)
}

// Release frees the slot a received descriptor references (if any) back to
// the peer's pool, waking the peer's senders if they wait for slots.
func (e *Endpoint) Release(d *wire.Desc) error {
	if d.Flags()&wire.FlagSlot == 0 {
		return nil
	}
	wake, err := e.peer.Free(d.Slot(), d.Gen())
	if wake {
		if rerr := e.spaceOut.Wake(); err == nil {
			err = rerr
		}
	}
	return err
}

// Interrupt closes this side's two waiting doorbells (data ready for this
// side's receiver, space freed for this side's senders). Every goroutine of
// this process blocked in Recv, Wait, Send (waiting for ring space) or
// Alloc (waiting for a slot) wakes at once with ErrClosed, and so does
// every later wait; waits that find their condition already true still
// succeed, so descriptors already in the ring can be drained with TryRecv.
// A WatchPeerLife returns false. The bells the peer waits on are untouched: ringing them stays harmless.
//
// It exists because nothing else can end a park that is bounded only by a
// long timeout: whoever learns that the peer is gone, or closes the link,
// calls it.
func (e *Endpoint) Interrupt() {
	e.downOnce.Do(func() { close(e.down) })
	e.life.stop()
	_ = e.dataIn.Close()
	_ = e.spaceIn.Close()
	// A ring of the peer's bells stuck in its write (a peer that made
	// the eventfd blocking and filled it: see Bell) holds a sender, and
	// with it the segment, until the counter is read down.
	go e.dataOut.Unstick()
	go e.spaceOut.Unstick()
}

// Beat advances this side's heartbeat counter in the segment header.
func (e *Endpoint) Beat() { e.seg.m.heartbeat(e.side).Add(1) }

// PeerBeat reads the peer's heartbeat counter.
func (e *Endpoint) PeerBeat() uint64 { return e.seg.m.heartbeat(1 - e.side).Load() }

// PeerPid is the process ID the peer recorded in the header (0 if it has
// not attached yet). It is peer-written: use it for diagnostics only.
func (e *Endpoint) PeerPid() int { return int(e.seg.m.sideWord32(1-e.side, sidePid).Load()) }

// State describes both rings' indices and flags, for diagnostics.
func (e *Endpoint) State() string {
	return e.side.String() + ": tx " + e.tx.State() + "; rx " + e.rx.State()
}
