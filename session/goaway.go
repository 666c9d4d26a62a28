package session

import (
	"context"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// GoAway tells the peer that this side accepts no new calls: calls the
// peer already opened finish; later ones are refused with UNAVAILABLE
// (the peer knows they never started, so they are safe to retry
// elsewhere). Calls this side makes are not affected.
func (s *Session) GoAway(reason string) {
	s.mu.Lock()
	if s.goAwaySent || s.err != nil {
		s.mu.Unlock()
		return
	}
	s.goAwaySent = true
	close(s.goingAway)
	s.goAwayLimit = s.peerMaxID
	limit := s.goAwayLimit
	s.mu.Unlock()
	s.ctl.push(ctlFrame{kind: wire.KindGoAway, aux: limit, payload: []byte(reason)})
}

// GoingAway is closed once this side has sent GOAWAY (GoAway, or Drain,
// which waits for the calls in flight to finish before it closes the
// link). A handler of a call that would otherwise last as long as the
// link (a subscription, a watch) ends it then, with UNAVAILABLE, so that
// a draining link is not held open until its deadline by calls that
// never finish on their own.
func (s *Session) GoingAway() <-chan struct{} { return s.goingAway }

// onGoAway: calls this side opened above the peer's limit were never
// started by the peer; fail them now with UNAVAILABLE.
func (d *dispatcher) onGoAway(limit uint64, reason string) {
	s := d.s
	s.mu.Lock()
	s.goAwayRecv = true
	s.openRefused.Store(true)
	s.peerLimit = limit
	var refused []*channel
	for id, ch := range s.chans.all() {
		if ch.local && id > limit {
			refused = append(refused, ch)
		}
	}
	s.mu.Unlock()
	// Refused before the peer started them: as safe to retry as calls
	// never sent.
	st := plexus.WithCause(plexus.Unavailable, ErrNotSent, "peer is going away ("+reason+"); call not started")
	for _, ch := range refused {
		d.removeChannel(ch)
		ch.fail(st, evRecvReset) // a refusal, as by RESET
	}
	s.log.Debug("peer sent GOAWAY", "reason", reason, "last channel", limit)
}

// Drain ends the session gracefully: it sends GOAWAY, stops making new
// calls, waits until every call in flight in either direction has finished
// or ctx is done, and then closes the link. Calls still running when ctx
// ends fail with LINK_CLOSED.
func (s *Session) Drain(ctx context.Context) error {
	s.GoAway("draining")
	s.mu.Lock()
	s.draining = true
	s.openRefused.Store(true)
	var wait chan struct{}
	if s.chans.len() > 0 {
		if s.drained == nil {
			s.drained = make(chan struct{})
		}
		wait = s.drained
	}
	s.mu.Unlock()
	var err error
	if wait != nil {
		select {
		case <-wait:
		case <-s.done:
		case <-ctx.Done():
			err = ctxStatus(ctx)
		}
	}
	// What the session queued for the peer (the GOAWAY, RESETs of calls
	// refused meanwhile, credit) goes out before the link closes: a peer
	// that saw the link end without its GOAWAY would take calls it made
	// meanwhile for lost in flight rather than refused.
	if ferr := s.ctl.flush(ctx, s.done); err == nil {
		err = ferr
	}
	s.die(plexus.Errorf(plexus.LinkClosed, "link drained"))
	// Handlers' contexts are cancelled now; wait for them to return, but
	// not beyond ctx: a handler that ignores cancellation must not hang
	// the caller of Drain.
	finished := make(chan struct{})
	go func() { s.srv.handlers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		if err == nil {
			err = ctxStatus(ctx)
		}
	}
	return err
}
