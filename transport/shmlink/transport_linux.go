package shmlink

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/ring"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// recvBatch is how many descriptors Recv copies out of the ring at a time:
// one index load and store per batch instead of per frame, and the ring
// space is given back to the sender early.
const recvBatch = 32

// idleWait bounds one park of an idle Recv. Waking costs nothing but a
// syscall, and it means a lost wake-up could never stall a link for
// longer; the death of the peer and Close wake Recv at once regardless.
var idleWait = time.Minute

// Transport is one end of a shared-memory link. See the package comment
// for its lifetime and concurrency contract.
//
// It is split by concern: the Transport moves frames through the segment
// (inline payloads, slots, the rings) and answers the caller's calls;
// state (state_linux.go) says whether the link may be used and when the
// segment may go; blob (blob_*.go) carries every payload above the largest
// slot class; ctl (control_linux.go) is the control socket. Each is a value
// in the Transport, so that the checks on the hot paths cost one load as
// before the split.
type Transport struct {
	seg    *shm.Segment
	ep     *shm.Endpoint
	own    *shm.Pool // slots this side sends from
	peer   *shm.Pool // slots the peer sends from; Release frees them
	ownMax int       // largest slot of own: bigger payloads go in blobs
	max    int
	wait   time.Duration

	// ownHeld[i] is the generation of own slot i while it is out with the
	// caller (returned by Alloc, not yet through Send or Free), else 0.
	// Send and Free claim it with a swap, so a buffer is sent or freed at
	// most once even if the caller passes it twice. Generations of
	// allocated slots are odd, so 0 is never a valid one.
	ownHeld []atomic.Uint32
	// peerHeld[i] is the generation of peer slot i while a frame that
	// Recv returned points into it, else 0: Release needs the generation
	// to free the slot, and finds the slot from the payload's address.
	peerHeld []atomic.Uint32

	state linkState   // references to the segment, Close, the fault
	torn  atomic.Bool // the segment is unmapped

	cells recvCells // storage of received inline payloads
	small cellArena // buffers from Alloc of up to wire.InlineMax bytes

	// held counts delivered frames with a payload not yet released. A
	// frame held past the next Recv has usually been handed to another
	// goroutine, which the hand-off made runnable on this goroutine's P;
	// see yield.
	held atomic.Int64

	blob blobs   // payloads above the largest slot class, both ways
	ctl  control // the control socket and its monitor goroutine
	errs faults  // what a failure means, and breaking the link (faults_linux.go)
	// lifeDone is closed when watchPeerLife has returned (host side;
	// nil on the plugin's, which holds its word instead).
	lifeDone chan struct{}

	// Receive state, owned by the goroutine in Recv or TryRecv.
	batch    [recvBatch]wire.Desc
	bpos, bn int
	// polling: the receiving goroutine holds a reference on the segment
	// from its first TryRecv until it stops polling (Arm, or the end of
	// Recv), instead of taking and dropping one on every look at the
	// ring: two atomic writes on a word that the senders write too, per
	// poll, cost more than the rest of an empty poll (27 % of a polling
	// caller's profile).
	polling bool
}

var _ transport.Transport = (*Transport)(nil)

// Statuses without a cause are shared: they are immutable, and returning
// them keeps the paths that report them free of allocations.
var (
	errLinkClosed = plexus.Errorf(plexus.LinkClosed, "shm: link closed")
	errBellClosed = plexus.Errorf(plexus.Internal, "shm: doorbell closed while the link is up")
)

// New makes a Transport over this process's side of seg and one end of a
// control socketpair (AF_UNIX, SOCK_SEQPACKET) whose other end the peer
// holds. It takes ownership of both, closing them if it fails.
func New(seg *shm.Segment, ctl *sockconn.Conn, cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	fail := func(err error) (*Transport, error) {
		_ = seg.Close()
		_ = ctl.Close()
		return nil, err
	}
	rc, err := ctl.SyscallConn()
	if err != nil {
		return fail(err)
	}
	if err := checkSeqpacket(rc); err != nil {
		return fail(err)
	}
	ep, err := seg.Endpoint()
	if err != nil {
		return fail(err)
	}
	t := &Transport{
		seg: seg, ep: ep, own: ep.Pool(), peer: ep.PeerPool(),
		max: cfg.MaxPayload, wait: ep.WaitLimit(),
	}
	t.cells.mem = new([ringCells * cellSize]byte)
	t.errs.t = t
	t.ownMax = t.own.MaxSize()
	t.ownHeld = make([]atomic.Uint32, t.own.NumSlots())
	t.peerHeld = make([]atomic.Uint32, t.peer.NumSlots())
	// The last reference after Close unmaps the segment, and closes the
	// blob descriptors the peer sent that no frame claimed: nothing can
	// claim them any more.
	t.state.unmap = func() {
		if t.torn.CompareAndSwap(false, true) {
			_ = t.seg.Close()
			t.ctl.closePending()
		}
	}
	t.state.refs.Store(1)
	t.blob.init(t, cfg)
	t.ctl.init(t, ctl, rc, cfg)
	go t.ctl.watch()
	switch ep.Side() {
	case shm.Plugin:
		// Best effort: if the kernel refuses, the host learns of this
		// process's death from the control socket, only later.
		_ = ep.HoldLife()
	case shm.Host:
		t.state.refs.Add(1) // the watcher's: the word is in the segment
		t.lifeDone = make(chan struct{})
		go t.errs.watchPeerLife()
	}
	return t, nil
}

// MaxPayload is the largest payload of one frame, in either direction.
func (t *Transport) MaxPayload() int { return t.max }

// Pools returns this side's pool and the peer's, for inspection (free slot
// counts, free-list checks) by tests and diagnostics. They are only valid
// until the transport has unmapped the segment (see the package comment).
func (t *Transport) Pools() (own, peer *shm.Pool) { return t.own, t.peer }

func violation(format string, args ...any) *plexus.Status {
	return plexus.Errorf(plexus.ProtocolViolation, "shm: "+format, args...)
}

// Close tears the link down; see the package comment. It is idempotent and
// returns once the control socket is closed and its reader has stopped; the
// segment itself may stay mapped until the last frame is released.
func (t *Transport) Close() error {
	if !t.state.closed.CompareAndSwap(false, true) {
		return nil
	}
	t.ep.Interrupt()
	err := t.ctl.conn.Close()
	<-t.ctl.done
	if t.lifeDone != nil {
		// Promptly: Interrupt woke it. Its reference is gone then, so a
		// link with nothing out unmaps its segment before Close returns.
		<-t.lifeDone
	}
	// Blob buffers: those out with the caller or held by a frame go when
	// they come back.
	t.blob.close()
	t.state.refs.Add(closedBit)
	t.state.unref()
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}

// Alloc returns n bytes of transport memory that Send carries without a
// further copy: up to 28 bytes a small buffer whose contents Send puts in
// the descriptor (capacity 28); up to the largest slot class a slot of this
// side's pool (capacity: the whole slot, so an encoder may append up to
// it); above that a writable blob buffer (a recycled one when
// Config.BlobCache allows, else a fresh memfd). It waits for a slot
// up to the segment's shm.Config.Wait and then fails with
// ResourceExhausted. Every buffer must go back through Send or Free.
func (t *Transport) Alloc(n int) ([]byte, error) {
	return t.AllocContext(context.Background(), n)
}

// AllocContext is Alloc whose wait for a slot ends when ctx is done, with
// its status (transport.ContextSender).
func (t *Transport) AllocContext(ctx context.Context, n int) ([]byte, error) {
	switch {
	case n < 0:
		return nil, plexus.Errorf(plexus.InvalidArgument, "shm: Alloc of %d bytes", n)
	case n > t.max:
		return nil, plexus.Errorf(plexus.ResourceExhausted, "shm: Alloc of %d bytes exceeds the %d-byte frame limit", n, t.max)
	case n == 0:
		return []byte{}, nil
	}
	if !t.state.acquire() {
		return nil, errLinkClosed
	}
	if err := t.state.err(); err != nil {
		t.state.unref()
		return nil, err
	}
	if n <= wire.InlineMax {
		t.state.unref() // nor does a buffer for an inline payload
		return t.small.get(n, wire.InlineMax), nil
	}
	if n > t.ownMax {
		t.state.unref() // a blob does not live in the segment
		return t.blob.newLease(n)
	}
	// Waits (bounded, one waiter at a time: see shm.Endpoint.Alloc) for
	// the peer to free a slot.
	s, err := t.ep.AllocContext(ctx, n)
	if err != nil {
		t.state.unref()
		return nil, t.errs.allocErr(err, n)
	}
	t.ownHeld[s.Index].Store(s.Gen)
	return s.Buf[:n], nil // the reference stays with the slot
}

// isViolation reports an error the peer caused (every such error of the
// segment layer wraps shm.ErrProtocol; the ring's own is checked too).
func isViolation(err error) bool {
	return errors.Is(err, shm.ErrProtocol) || errors.Is(err, ring.ErrCorrupt)
}

// Free returns a buffer from Alloc that will not be sent. Other slices are
// ignored, and so is a second Free of the same buffer.
func (t *Transport) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	if idx, gen, _, _, ok := t.takeOwn(b); ok {
		t.freeOwn(idx, gen)
		return
	}
	if t.small.put(b) {
		return
	}
	if l := t.blob.takeLease(b); l != nil {
		l.discard()
	}
}

// takeOwn claims an own slot that b points into, if b came from Alloc and
// has not been sent or freed since.
func (t *Transport) takeOwn(b []byte) (idx, gen uint32, off, room int, ok bool) {
	if t.torn.Load() {
		return 0, 0, 0, 0, false
	}
	idx, off, room, ok = t.own.SlotAt(b)
	if !ok {
		return 0, 0, 0, 0, false
	}
	gen = t.ownHeld[idx].Swap(0)
	return idx, gen, off, room, gen != 0
}

// freeOwn puts back an own slot that was out with the caller and drops the
// reference it held.
func (t *Transport) freeOwn(idx, gen uint32) {
	if err := t.ep.FreeOwn(idx, gen); err != nil {
		_ = t.errs.segErr(err, "free") // only a peer that rewrote our pool makes this fail: a violation
	}
	t.state.unref()
}

// owned is what Send found the payload to be: caller memory, an own slot
// out with the caller, or a blob lease.
type owned struct {
	slot      bool
	idx, gen  uint32
	off, room int // payload's offset in the slot, and the slot's bytes from there
	lease     *lease
	loff      int
	cell      []byte // a small buffer from Alloc, back to its arena after the send
}
