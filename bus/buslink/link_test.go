package buslink_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/session"
)

// TestFanOutWildcards: three remote subscribers (each its own plugin,
// with a literal, a '*' and a '>' pattern) and a local one receive, in
// publish order, exactly the messages whose subjects their patterns
// match, whether a plugin published them (Publish, then PublishAsync) or
// the host did; each Publish's result counts the matching subscribers;
// every payload, the plugin's and the host's, is released exactly once.
func TestFanOutWildcards(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		const n = 60 // per phase: plugin Publish, plugin PublishAsync, host Publish
		subjects := []string{"sensor.kitchen.temp", "sensor.hall.temp", "sensor.kitchen.hum", "other.x"}
		patterns := []string{"sensor.kitchen.temp", "sensor.*.temp", "sensor.>"}
		h := newHub(t, tk, bus.Config{})
		ctx := testCtx(t)
		subs := make([]*buslink.Subscription, len(patterns))
		for i, p := range patterns {
			var err error
			subs[i], err = h.link().client.Subscribe(ctx, p, bus.SubOptions{})
			require.NoError(t, err)
		}
		local, err := h.bus.Subscribe(ctx, ">", bus.SubOptions{Buffer: 3 * n})
		require.NoError(t, err)
		pub := h.link().client
		tr := newTracker(3 * n)
		matching := func(id int) (k int) {
			for _, p := range patterns {
				if bus.Match(p, subjects[id%4]) {
					k++
				}
			}
			return k + 1 // the local one matches everything
		}

		for id := range n {
			res, err := pub.Publish(ctx, tr.msg(subjects[id%4], id, 8))
			require.NoError(t, err)
			require.Equal(t, bus.PublishResult{Delivered: matching(id)}, res, "message %d", id)
			require.Equal(t, int32(1), tr.counts[id].Load(), "the plugin's payload is released once sent")
		}
		for id := n; id < 2*n; id++ {
			require.NoError(t, pub.PublishAsync(ctx, tr.msg(subjects[id%4], id, 8)))
		}
		// The notifications are published by the host in order: once the
		// local subscriber has the last one, it has them all.
		require.Equal(t, seq(0, 2*n), localIDs(t, local, 2*n))
		for id := 2 * n; id < 3*n; id++ {
			res, err := h.bus.Publish(ctx, tr.msg(subjects[id%4], id, 8))
			require.NoError(t, err)
			require.Equal(t, matching(id), res.Delivered)
		}
		require.Equal(t, seq(2*n, 3*n), localIDs(t, local, n))
		for i, p := range patterns {
			want := matchingIDs(p, subjects, 3*n)
			require.Equal(t, want, nextIDs(t, subs[i], len(want)), "pattern %q", p)
		}
		select {
		case <-tr.all:
		case <-ctx.Done():
			t.Fatalf("payloads released: %d of %d", tr.released.Load(), 3*n)
		}
		tr.requireReleased(t)
		for _, s := range subs {
			s.Unsubscribe()
			requireCode(t, s.Err(), plexus.Canceled)
		}
		h.waitSubs(1)
	})
}

// localIDs takes n deliveries of a local subscription, marks them Done,
// and returns their IDs.
func localIDs(t *testing.T, s *bus.Subscription, n int) []int {
	t.Helper()
	ids := make([]int, 0, n)
	for range n {
		d, err := s.Next(testCtx(t))
		require.NoError(t, err)
		ids = append(ids, idOf(d.Data))
		require.NoError(t, d.Done())
	}
	return ids
}

// matchingIDs are the IDs below n whose subjects (subjects[id%len])
// pattern matches.
func matchingIDs(pattern string, subjects []string, n int) []int {
	var ids []int
	for id := range n {
		if bus.Match(pattern, subjects[id%len(subjects)]) {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestHistoryLateJoiner: a remote subscriber that joins late gets the
// retained messages of the subjects its pattern matches first, merged in
// publish order and marked Replayed, then the live ones.
func TestHistoryLateJoiner(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		h := newHub(t, tk, bus.Config{History: 3})
		ctx := testCtx(t)
		for id := range 10 {
			subject := "h.a"
			if id%3 == 0 {
				subject = "h.b"
			}
			_, err := h.bus.Publish(ctx, msgOf(subject, id))
			require.NoError(t, err)
		}
		_, err := h.bus.Publish(ctx, msgOf("other", 99))
		require.NoError(t, err)
		s, err := h.link().client.Subscribe(ctx, "h.*", bus.SubOptions{History: bus.AllHistory})
		require.NoError(t, err)
		_, err = h.bus.Publish(ctx, msgOf("h.a", 10))
		require.NoError(t, err)
		// h.a kept 5, 7, 8; h.b kept 3, 6, 9.
		want := []int{3, 5, 6, 7, 8, 9}
		for i := range len(want) + 1 {
			d, err := s.Next(ctx)
			require.NoError(t, err)
			if i < len(want) {
				require.Equal(t, want[i], idOf(d.Data))
				require.True(t, d.Replayed)
			} else {
				require.Equal(t, 10, idOf(d.Data))
				require.False(t, d.Replayed)
				require.Equal(t, uint64(12), d.Seq)
			}
			require.NoError(t, d.Done())
		}
		s.Unsubscribe()
	})
}

// TestOverflowSlowRemote: a remote subscriber that does not read, with a
// buffer of 4, against a host publishing 200 messages of 16 KiB: the
// stream's window holds a few, then the bus buffer fills and the
// subscription's policy applies on the host as it would to a local one.
// What the subscriber then reads is what the policy kept, in order, and
// every payload is released exactly once.
func TestOverflowSlowRemote(t *testing.T) {
	const n, size, buffer = 200, 16 << 10, 4
	eachTransport(t, func(t *testing.T, tk transportKind) {
		for _, ov := range []bus.Overflow{bus.Block, bus.DropOldest, bus.DropNewest, bus.End} {
			t.Run(ov.String(), func(t *testing.T) {
				h := newHub(t, tk, bus.Config{})
				ctx := testCtx(t)
				s, err := h.link().client.Subscribe(ctx, "slow", bus.SubOptions{Buffer: buffer, Overflow: ov})
				require.NoError(t, err)
				tr := newTracker(n)
				switch ov {
				case bus.Block:
					overflowBlock(t, h, s, tr, size)
				case bus.DropOldest:
					overflowDropOldest(t, h, s, tr, size)
				case bus.DropNewest:
					overflowDropNewest(t, h, s, tr, size)
				case bus.End:
					overflowEnd(t, h, s, tr, size)
				}
				select {
				case <-tr.all:
				case <-ctx.Done():
					t.Fatalf("payloads released: %d of %d", tr.released.Load(), n)
				}
				tr.requireReleased(t)
			})
		}
	})
}

// overflowBlock: publishes with a short deadline until one times out
// (the remote subscriber is full, the publisher waits); that message is
// dropped for it. Then the subscriber reads while the rest is published
// without deadline: everything accepted arrives, in order, none lost.
func overflowBlock(t *testing.T, h *hub, s *buslink.Subscription, tr *tracker, size int) {
	ctx := testCtx(t)
	n := len(tr.counts)
	var accepted []int
	blocked := -1
	for id := 0; id < n && blocked < 0; id++ {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		res, err := h.bus.Publish(pctx, tr.msg("slow", id, size))
		cancel()
		if err != nil {
			requireCode(t, err, plexus.DeadlineExceeded)
			require.Equal(t, bus.PublishResult{Dropped: 1}, res)
			blocked = id
			continue
		}
		require.Equal(t, bus.PublishResult{Delivered: 1}, res)
		accepted = append(accepted, id)
	}
	require.GreaterOrEqual(t, blocked, 4, "the publisher blocked only once the buffer and the stream were full")
	done := make(chan error, 1)
	go func() {
		for id := blocked + 1; id < n; id++ {
			if _, err := h.bus.Publish(ctx, tr.msg("slow", id, size)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	want := append(accepted, seq(blocked+1, n)...)
	require.Equal(t, want, nextIDs(t, s, len(want)))
	require.NoError(t, <-done)
	s.Unsubscribe()
}

func overflowDropOldest(t *testing.T, h *hub, s *buslink.Subscription, tr *tracker, size int) {
	ctx := testCtx(t)
	n := len(tr.counts)
	for id := range n {
		res, err := h.bus.Publish(ctx, tr.msg("slow", id, size))
		require.NoError(t, err)
		require.Equal(t, bus.PublishResult{Delivered: 1}, res, "the arriving message is always taken")
	}
	// The older messages in the stream, then the buffer: the newest 4.
	got := readUntilLast(t, s, n-1)
	require.Less(t, len(got), n, "messages were dropped")
	require.Equal(t, seq(n-4, n), got[len(got)-4:])
	requireIncreasing(t, got)
	s.Unsubscribe()
}

func overflowDropNewest(t *testing.T, h *hub, s *buslink.Subscription, tr *tracker, size int) {
	ctx := testCtx(t)
	n := len(tr.counts)
	var accepted []int
	for id := range n {
		res, err := h.bus.Publish(ctx, tr.msg("slow", id, size))
		require.NoError(t, err)
		require.Equal(t, 1, res.Delivered+res.Dropped)
		if res.Delivered == 1 {
			accepted = append(accepted, id)
		}
	}
	require.Less(t, len(accepted), n, "messages were dropped")
	requireIncreasing(t, accepted)
	require.Equal(t, accepted, nextIDs(t, s, len(accepted)))
	s.Unsubscribe()
}

func overflowEnd(t *testing.T, h *hub, s *buslink.Subscription, tr *tracker, size int) {
	ctx := testCtx(t)
	n := len(tr.counts)
	ended := -1
	for id := range n {
		res, err := h.bus.Publish(ctx, tr.msg("slow", id, size))
		require.NoError(t, err)
		if res.Dropped == 1 && ended < 0 {
			ended = id
		}
	}
	require.Positive(t, ended)
	var got []int
	for {
		d, err := s.Next(ctx)
		if err != nil {
			requireCode(t, err, plexus.ResourceExhausted)
			break
		}
		got = append(got, idOf(d.Data))
		require.NoError(t, d.Done())
	}
	require.Equal(t, seq(0, len(got)), append([]int{}, got...), "what was in the stream arrives, in order")
	require.Less(t, len(got), ended+1)
	requireCode(t, s.Err(), plexus.ResourceExhausted)
	h.waitSubs(0)
}

// readUntilLast reads until the message with ID last.
func readUntilLast(t *testing.T, s *buslink.Subscription, last int) []int {
	ctx := testCtx(t)
	var got []int
	for {
		d, err := s.Next(ctx)
		require.NoError(t, err)
		got = append(got, idOf(d.Data))
		require.NoError(t, d.Done())
		if got[len(got)-1] == last {
			return got
		}
	}
}

func requireIncreasing(t *testing.T, ids []int) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		require.Less(t, ids[i-1], ids[i], "order at %d: %v", i, ids)
	}
}

// TestUnsubscribeDuringDelivery: a remote subscriber unsubscribes while a
// host publisher keeps publishing to it (Block, a small buffer: the
// publisher is paced by it): its Next then says CANCELED, the publisher
// is not held, the bus forgets the subscription, and every payload is
// released exactly once after the local subscriber has had them all.
func TestUnsubscribeDuringDelivery(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		const n = 2000
		h := newHub(t, tk, bus.Config{})
		ctx := testCtx(t)
		s, err := h.link().client.Subscribe(ctx, "u.*", bus.SubOptions{Buffer: 8})
		require.NoError(t, err)
		local, err := h.bus.Subscribe(ctx, "u.>", bus.SubOptions{Buffer: n})
		require.NoError(t, err)
		tr := newTracker(n)
		published := make(chan error, 1)
		go func() {
			for id := range n {
				if _, err := h.bus.Publish(ctx, tr.msg("u.x", id, 64)); err != nil {
					published <- err
					return
				}
			}
			published <- nil
		}()
		require.Equal(t, seq(0, 100), nextIDs(t, s, 100))
		s.Unsubscribe()
		_, err = s.Next(ctx)
		requireCode(t, err, plexus.Canceled)
		requireCode(t, s.Err(), plexus.Canceled)
		require.NoError(t, <-published)
		h.waitSubs(1)
		for id := range n {
			d, err := local.Next(ctx)
			require.NoError(t, err)
			require.Equal(t, id, idOf(d.Data))
			require.NoError(t, d.Done())
		}
		select {
		case <-tr.all:
		case <-ctx.Done():
			t.Fatalf("payloads released: %d of %d", tr.released.Load(), n)
		}
		tr.requireReleased(t)
	})
}

// acks records which members acknowledged (Done without error) each
// message. A Done that succeeds has queued the ack; the host has it
// once the message's payload is released, which is what ends the
// consumers (endWhenReleased).
type acks struct {
	mu    sync.Mutex
	by    map[int][]string
	n     int
	redel int
}

func newAcks(n int) *acks { return &acks{by: map[int][]string{}, n: n} }

// endWhenReleased cancels the consumers' context once every payload of
// tr was released (so every message acknowledged on the host) or ctx
// ends.
func endWhenReleased(ctx context.Context, tr *tracker) context.Context {
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		select {
		case <-tr.all:
		case <-ctx.Done():
		}
	}()
	return cctx
}

func (a *acks) done(member string, d *buslink.Delivery) error {
	if err := d.Done(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id := idOf(d.Data)
	a.by[id] = append(a.by[id], member)
	if d.Redelivered {
		a.redel++
	}
	return nil
}

// consume acknowledges what s delivers until ctx ends.
func (a *acks) consume(ctx context.Context, member string, s *buslink.Subscription) error {
	for {
		d, err := s.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := a.done(member, d); err != nil {
			return err
		}
	}
}

// requireOnce checks that each message was acknowledged by one member;
// with a victim, twice at most: by the victim, whose ack did not reach
// the host before it died, then by another member.
func (a *acks) requireOnce(t *testing.T, victim string) (twice int) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.n {
		by := a.by[id]
		if len(by) == 2 && victim != "" && by[0] == victim && by[1] != victim {
			twice++
			continue
		}
		require.Len(t, by, 1, "message %d acknowledged by %v", id, by)
	}
	return twice
}

func waitReleased(t *testing.T, ctx context.Context, tr *tracker) {
	t.Helper()
	select {
	case <-tr.all:
	case <-ctx.Done():
		t.Fatalf("payloads released: %d of %d", tr.released.Load(), len(tr.counts))
	}
	tr.requireReleased(t)
}

// TestQueueUnsubscribeRedelivers: two remote members of a queue group;
// one takes five messages without Done and unsubscribes: those five go
// to the other member (Redelivered), their late Done fails, and every
// message is acknowledged exactly once, none lost, each payload released
// once.
func TestQueueUnsubscribeRedelivers(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		const n = 2000
		h := newHub(t, tk, bus.Config{})
		ctx := testCtx(t)
		opts := bus.SubOptions{Queue: "g", Buffer: 16}
		a, err := h.link().client.Subscribe(ctx, "q.>", opts)
		require.NoError(t, err)
		b, err := h.link().client.Subscribe(ctx, "q.*", opts)
		require.NoError(t, err)
		tr := newTracker(n)
		allCtx := endWhenReleased(ctx, tr)
		go func() {
			for id := range n {
				if _, err := h.bus.Publish(ctx, tr.msg("q.x", id, 64)); err != nil {
					return
				}
			}
		}()
		ak := newAcks(n)
		// b starts consuming only once a has its 100: until then b's
		// buffer fills and the group gives a everything, so that a's
		// share does not depend on how the two are scheduled (under load
		// b could otherwise take nearly all 2,000 before a took 105).
		for range 100 {
			d, err := a.Next(ctx)
			require.NoError(t, err)
			require.NoError(t, ak.done("a", d))
		}
		bDone := make(chan error, 1)
		go func() { bDone <- ak.consume(allCtx, "b", b) }()
		var held []*buslink.Delivery
		for range 5 {
			d, err := a.Next(ctx)
			require.NoError(t, err)
			held = append(held, d)
		}
		a.Unsubscribe()
		for _, d := range held {
			requireCode(t, d.Done(), plexus.FailedPrecondition)
		}
		require.NoError(t, <-bDone)
		waitReleased(t, ctx, tr)
		require.Zero(t, ak.requireOnce(t, ""))
		require.GreaterOrEqual(t, ak.redel, 5, "the held messages were redelivered")
		require.Zero(t, h.bus.Stats().Orphaned)
		b.Unsubscribe()
	})
}

// TestQueueMemberDeath: three remote members; one dies (its link is cut)
// holding messages it took and did not acknowledge: they are redelivered
// to the others, every message is acknowledged exactly once, none lost.
func TestQueueMemberDeath(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		n := 6000
		if raceEnabled {
			n = 2000
		}
		h := newHub(t, tk, bus.Config{})
		ctx := testCtx(t)
		opts := bus.SubOptions{Queue: "w", Buffer: 32, QueuePolicy: bus.LeastLoaded}
		victim := h.link()
		vs, err := victim.client.Subscribe(ctx, "job", opts)
		require.NoError(t, err)
		tr := newTracker(n)
		allCtx := endWhenReleased(ctx, tr)
		ak := newAcks(n)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, name := range []string{"b", "c"} {
			s, err := h.link().client.Subscribe(ctx, "job", opts)
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- ak.consume(allCtx, name, s)
			}()
		}
		go func() {
			for id := range n {
				if _, err := h.bus.Publish(ctx, tr.msg("job", id, 32)); err != nil {
					return
				}
			}
		}()
		for range 200 {
			d, err := vs.Next(ctx)
			require.NoError(t, err)
			require.NoError(t, ak.done("victim", d))
		}
		for range 3 { // processed, never acknowledged
			_, err := vs.Next(ctx)
			require.NoError(t, err)
		}
		_ = victim.hostSide.Close() // the plugin is gone, as the host sees it
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		waitReleased(t, ctx, tr)
		twice := ak.requireOnce(t, "victim")
		require.GreaterOrEqual(t, ak.redel, 3)
		t.Logf("%d messages, %d redelivered after the death, %d of them Done by the victim too (its ack had not reached the host)", n, ak.redel, twice)
		require.Zero(t, h.bus.Stats().Orphaned)
	})
}

// TestSubscriptionEnds: each way a remote subscription ends, and what
// the subscriber's Next says then; the host's bus forgets it each time.
func TestSubscriptionEnds(t *testing.T) {
	eachTransport(t, func(t *testing.T, tk transportKind) {
		t.Run("context", func(t *testing.T) {
			h := newHub(t, tk, bus.Config{})
			sctx, cancel := context.WithCancel(testCtx(t))
			s, err := h.link().client.Subscribe(sctx, "a", bus.SubOptions{})
			require.NoError(t, err)
			h.waitSubs(1)
			cancel()
			<-s.Ended()
			requireCode(t, s.Err(), plexus.Canceled)
			h.waitSubs(0)
		})
		t.Run("link death", func(t *testing.T) {
			h := newHub(t, tk, bus.Config{})
			p := h.link()
			s, err := p.client.Subscribe(testCtx(t), "a", bus.SubOptions{})
			require.NoError(t, err)
			_ = p.hostSide.Close()
			h.waitSubs(0)
			_, err = s.Next(testCtx(t))
			require.Error(t, err)
			require.Contains(t, []plexus.Code{plexus.PeerDied, plexus.LinkClosed}, plexus.CodeOf(err), "%v", err)
		})
		t.Run("bus closed", func(t *testing.T) {
			h := newHub(t, tk, bus.Config{})
			s, err := h.link().client.Subscribe(testCtx(t), "a", bus.SubOptions{})
			require.NoError(t, err)
			h.bus.Close()
			_, err = s.Next(testCtx(t))
			requireCode(t, err, plexus.Unavailable)
			_, err = h.link().client.Subscribe(testCtx(t), "a", bus.SubOptions{})
			requireCode(t, err, plexus.Unavailable)
		})
		t.Run("refused", func(t *testing.T) {
			h := newHub(t, tk, bus.Config{})
			c := h.link().client
			_, err := c.Subscribe(testCtx(t), "a..b", bus.SubOptions{})
			requireCode(t, err, plexus.InvalidArgument)
			_, err = c.Subscribe(testCtx(t), "a", bus.SubOptions{Buffer: buslink.DefaultMaxBuffer + 1})
			requireCode(t, err, plexus.InvalidArgument)
			_, err = c.Subscribe(testCtx(t), "a", bus.SubOptions{Queue: "g", History: 1})
			requireCode(t, err, plexus.InvalidArgument)
			_, err = c.Publish(testCtx(t), &bus.Message{Subject: "a.*"})
			requireCode(t, err, plexus.InvalidArgument)
			h.waitSubs(0)
		})
	})
}

// TestHostSideValidation: what a peer that does not use Client sends is
// checked by the host: a publish to a pattern (the notification's error
// goes to Config.OnAsyncError), a malformed OPEN, a malformed publish, an
// ack of a tag never sent, an ack on a fan-out subscription.
func TestHostSideValidation(t *testing.T) {
	h := newHub(t, transports[0], bus.Config{})
	asyncErrs := make(chan error, 4)
	h.mux = session.NewMux()
	require.NoError(t, buslink.RegisterConfig(h.mux, h.bus, buslink.Config{OnAsyncError: func(err error) { asyncErrs <- err }}))
	p := h.link()
	ctx := testCtx(t)
	require.NoError(t, p.conn.Notify(ctx, buslink.PublishAsyncMethod, plexus.Raw{0x93, 0xa1, '*', 0xc0, 0xc0}))
	select {
	case err := <-asyncErrs:
		requireCode(t, err, plexus.InvalidArgument)
	case <-ctx.Done():
		t.Fatal("no error reported for a malformed PublishAsync")
	}

	st, err := p.conn.NewStream(ctx, buslink.SubscribeMethod, plexus.Raw{0x93, 0xc1}, false)
	require.NoError(t, err)
	requireCode(t, st.Recv(nil), plexus.InvalidArgument)

	err = p.conn.Invoke(ctx, buslink.PublishMethod, plexus.Raw{0x93, 0xa1, 'a', 0xc0}, nil)
	requireCode(t, err, plexus.InvalidArgument)

	// A Subscribe OPEN by hand: [pattern, queue, policy, buffer, overflow, history, type].
	open := plexus.Raw{0x97, 0xa1, 'a', 0xa1, 'g', 0, 0, 0, 0, 0}
	st, err = p.conn.NewStream(ctx, buslink.SubscribeMethod, open, false)
	require.NoError(t, err)
	require.NoError(t, st.Recv(nil)) // the confirmation
	require.NoError(t, st.Send(plexus.Raw{0x92, 0x05, 0x90}))
	requireCode(t, st.Recv(nil), plexus.InvalidArgument)

	open = plexus.Raw{0x97, 0xa1, 'a', 0xa0, 0, 0, 0, 0, 0}
	st, err = p.conn.NewStream(ctx, buslink.SubscribeMethod, open, false)
	require.NoError(t, err)
	require.NoError(t, st.Recv(nil))
	require.NoError(t, st.Send(plexus.Raw{0x92, 0x00, 0x90}))
	requireCode(t, st.Recv(nil), plexus.InvalidArgument)
	h.waitSubs(0)
}

// TestServiceDescribed: Register describes the service on the Mux, with
// ServiceDesc's signature hashes, for the link-time check.
func TestServiceDescribed(t *testing.T) {
	mux := session.NewMux()
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, buslink.Register(mux, b))
	var got *plexus.ServiceDesc
	for _, d := range mux.Services() {
		if d.Name == buslink.ServiceName {
			got = &d
		}
	}
	require.NotNil(t, got)
	require.ElementsMatch(t, buslink.ServiceDesc.Methods, got.Methods)
	require.Error(t, buslink.Register(mux, b), "registered twice")
}
