package session

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// Stream is one side of a streaming call. On the caller's side it comes
// from NewStream; on the handler's side it is passed to a StreamHandler.
// One goroutine may Send while another Recvs.
type Stream struct {
	ch     *channel
	ctx    context.Context
	server bool
	stop   func() bool // caller side: stops the context watcher

	// Buffered mode (see Buffer and pack.go). packMu is taken by Send
	// and by Recv, which flushes before it waits. buffered is set under
	// packMu, and read without it by Send and Recv (which take packMu
	// only in buffered mode): Buffer may be called while another
	// goroutine sends or receives.
	packMu   sync.Mutex
	buffered atomic.Bool
	pack     []byte // transport memory of the packed frame being filled
}

// Buffer turns buffered sending on or off. In buffered mode Send puts
// messages of up to 1 KiB into a shared frame, which is sent when it is
// full, on Flush and CloseSend, and when a handler returns; a stream of
// small messages then costs a fraction of a frame per message. Recv also
// sends what is buffered when no other goroutine is sending on the stream
// and flow control lets it go without waiting. A message sent in buffered
// mode may otherwise wait in the buffer: call Flush where the peer must see
// it now. Turning buffering off flushes.
func (st *Stream) Buffer(on bool) error {
	st.packMu.Lock()
	defer st.packMu.Unlock()
	st.buffered.Store(on)
	if !on {
		return st.flushLocked()
	}
	return nil
}

// Flush sends the messages buffered so far (see Buffer).
func (st *Stream) Flush() error {
	st.packMu.Lock()
	defer st.packMu.Unlock()
	return st.flushLocked()
}

// NewStream opens a streaming call. first, if not nil, travels in the
// OPEN frame; closeSend ends the caller's side at once (server streaming).
// The call ends when Recv returns an error (io.EOF for success), or when
// ctx is done or Close is called, which cancels it on the peer.
func (s *Session) NewStream(ctx context.Context, method uint64, first plexus.Marshaler, closeSend bool) (*Stream, error) {
	var obs *callObs
	if len(s.cfg.Interceptors) != 0 {
		kind := plexus.BidiStream
		if closeSend {
			kind = plexus.ServerStream
		}
		var err error
		if ctx, obs, err = s.startCall(ctx, method, kind); err != nil {
			return nil, err
		}
	}
	ch, err := s.open(ctx, method, first, closeSend, obs, recvWindowOf(ctx))
	if err != nil {
		obs.end(err)
		return nil, err
	}
	st := &Stream{ch: ch, ctx: ctx}
	// A caller that stops reading must still cancel the peer's handler
	// when its context ends, not only if it happens to be in Recv.
	st.stop = context.AfterFunc(ctx, func() { ch.abandon(ctxStatus(ctx)) })
	return st, nil
}

// Context is the call's context: on the handler's side it carries the
// caller's deadline and is cancelled when the caller cancels.
func (st *Stream) Context() context.Context { return st.ctx }

// Send sends one message. After the peer has ended the call it returns
// the call's status (io.EOF if that was OK).
func (st *Stream) Send(m plexus.Marshaler) error {
	ch := st.ch
	// Without mu: stSentEnd is set only by this stream's sending side
	// (CloseSend), and final is read under mu only once stFinal says it
	// is there.
	state := ch.state()
	if state&stSentEnd != 0 {
		return plexus.Errorf(plexus.FailedPrecondition, "Send after CloseSend")
	}
	if state&stFinal != 0 {
		ch.mu.Lock()
		final := ch.final
		ch.mu.Unlock()
		if final.Code == plexus.OK {
			return io.EOF
		}
		return final
	}
	if st.buffered.Load() {
		st.packMu.Lock()
		defer st.packMu.Unlock()
		if size := m.Msgsize(); size <= packLimit {
			if _, lease := m.(*Lease); !lease {
				return st.packMsg(m, size)
			}
		}
		if err := st.flushLocked(); err != nil {
			return err
		}
	}
	return st.sendOne(m)
}

// sendOne sends m in a DATA frame of its own.
func (st *Stream) sendOne(m plexus.Marshaler) error {
	ch := st.ch
	// One goroutine sends on a stream at a time (the Stream contract), so
	// the channel's scratch payload and descriptor are free here.
	payload, fromAlloc, flags, err := ch.s.encode(st.ctx, nil, m, nil, ch.scratch[:0])
	if err != nil {
		return err
	}
	d := &ch.desc
	newDesc(d, wire.KindData, ch.id, flags|wire.FlagMsg)
	return ch.s.sendFrame(st.ctx, ch, d, payload, fromAlloc)
}

// CloseSend ends the caller's side of the stream; the handler's Recv
// returns io.EOF once it has read everything before it.
func (st *Stream) CloseSend() error {
	if st.server {
		return plexus.Errorf(plexus.FailedPrecondition, "a handler ends its side by returning")
	}
	if err := st.Flush(); err != nil {
		return err
	}
	ch := st.ch
	ch.mu.Lock()
	v := ch.step(evSendEnd)
	ch.mu.Unlock()
	if v != vAllow {
		return nil // ended already, or the call is over
	}
	d := &ch.desc
	newDesc(d, wire.KindData, ch.id, wire.FlagEnd)
	return ch.s.sendFrame(st.ctx, ch, d, nil, false)
}

// Recv receives the next message into m. It returns io.EOF when the peer
// has ended its side successfully, or the call's status.
func (st *Stream) Recv(m plexus.Unmarshaler) error {
	if st.buffered.Load() {
		// The peer may be waiting for what is buffered before it answers.
		st.tryFlush()
	}
	ch := st.ch
	if st.ctx.Err() == nil {
		// The common case of a stream of small messages, without
		// building an item: the next record of a packed frame.
		if pk := ch.rxPk.Load(); pk != nil {
			if msg, pk := ch.fromCursor(pk); pk != nil {
				return ch.decodePacked(msg, pk, m)
			}
		}
	}
	it, err := ch.next(st.ctx)
	if err != nil {
		if !st.server {
			st.finish(err)
		}
		return err
	}
	return ch.consume(&it, m)
}

// finish ends the caller's side once the call is over.
func (st *Stream) finish(err error) {
	if st.stop != nil {
		st.stop()
	}
	if err == io.EOF {
		if dst := plexus.ResponseMetadataDest(st.ctx); dst != nil {
			st.ch.deliverTrailer(dst)
		}
		st.ch.obs.end(nil)
		return
	}
	if s, ok := err.(*plexus.Status); ok {
		st.ch.abandon(s)
	}
}

// Close abandons the call from the caller's side (a no-op once it has
// ended); the peer's handler sees its context cancelled.
func (st *Stream) Close() {
	if st.server {
		return
	}
	if st.stop != nil {
		st.stop()
	}
	st.discardPacked()
	st.ch.abandon(plexus.Errorf(plexus.Canceled, "stream closed by the caller"))
}
