package bus

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// sunk is what a testSink keeps of a message it took: copies, since the
// Delivery it is handed is valid only during Put.
type sunk struct {
	subject     string
	header      plexus.Metadata
	data        []byte
	typ, seq    uint64
	replayed    bool
	redelivered bool
}

// testSink records the messages it takes under its own mutex, as a
// stream encoder would, and refuses some: when it holds limit of them
// (0: no limit), and those refuse picks by content.
type testSink struct {
	limit  int
	refuse func(data []byte) bool
	// sub, if set, is the subscription whose mutex Put must be called
	// under (Sink's contract); a Put that finds it free counts in
	// unlocked.
	sub *Subscription

	mu       sync.Mutex
	held     []sunk
	puts     int // messages taken
	refused  int
	unlocked int
}

func (k *testSink) Put(d *Delivery) bool {
	if k.sub != nil && k.sub.mu.TryLock() {
		k.sub.mu.Unlock()
		k.mu.Lock()
		k.unlocked++
		k.mu.Unlock()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if (k.limit > 0 && len(k.held) >= k.limit) || (k.refuse != nil && k.refuse(d.Data)) {
		k.refused++
		return false
	}
	k.puts++
	k.held = append(k.held, sunk{subject: d.Subject, header: d.Header, data: bytes.Clone(d.Data), typ: d.Type, seq: d.Seq,
		replayed: d.Replayed, redelivered: d.Redelivered})
	return true
}

// take hands over what the sink holds, leaving it spare (emptied) to
// fill next: the consumer's side of the protocol.
func (k *testSink) take(spare []sunk) []sunk {
	k.mu.Lock()
	defer k.mu.Unlock()
	got := k.held
	k.held = spare[:0]
	return got
}

func (k *testSink) counts() (puts, refused, unlocked int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.puts, k.refused, k.unlocked
}

func sunkIDs(ms []sunk) []int {
	ids := []int{}
	for _, m := range ms {
		ids = append(ids, int(binary.BigEndian.Uint64(m.data)))
	}
	return ids
}

// protocolStep is one turn of SetSink's consumer protocol, driven by the
// test: TakeBatch, then what the sink holds; the sink's IDs first, then
// the batch's (each Done), then Drained. It returns the IDs in the order
// handed on and whether each came from the sink.
func protocolStep(t *testing.T, s *Subscription, k *testSink, ds []Delivery) (ids []int, fromSink []bool) {
	t.Helper()
	n, err := s.TakeBatch(ds)
	require.NoError(t, err)
	got := k.take(nil)
	ids, fromSink = []int{}, []bool{}
	for _, id := range sunkIDs(got) {
		ids = append(ids, id)
		fromSink = append(fromSink, true)
	}
	for i := range n {
		ids = append(ids, idOf(&ds[i]))
		fromSink = append(fromSink, false)
		require.NoError(t, ds[i].Done())
	}
	s.Drained(len(got))
	return ids, fromSink
}

func seqIDs(from, to int) []int {
	ids := []int{}
	for id := from; id < to; id++ {
		ids = append(ids, id)
	}
	return ids
}

// TestSinkTakesInOrder: a sink takes every message, in publish order,
// copies of each field, under the subscription's mutex; they count as
// delivered, and as buffered until Drained.
func TestSinkTakesInOrder(t *testing.T) {
	const n = 1000
	b := newBus(t, Config{})
	s := subscribe(t, b, "a.*", SubOptions{Buffer: n})
	k := &testSink{sub: s}
	require.NoError(t, s.SetSink(k))
	hdr := plexus.Metadata{"k": "v"}
	for id := 0; id < n; id++ {
		subject := fmt.Sprintf("a.%d", id%3)
		m := &Message{Subject: subject, Header: hdr, Type: 7, Data: binary.BigEndian.AppendUint64(nil, uint64(id))}
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, m))
	}

	puts, refused, unlocked := k.counts()
	require.Equal(t, n, puts)
	require.Zero(t, refused)
	require.Zero(t, unlocked, "Put is called with the subscription's mutex held")
	require.Equal(t, SubStats{Delivered: n, Buffered: n}, s.Stats(), "sink-held messages count as buffered")

	ds := make([]Delivery, 8)
	cnt, err := s.TakeBatch(ds)
	require.NoError(t, err)
	require.Zero(t, cnt, "nothing went to the buffer")

	got := k.take(nil)
	require.Equal(t, n, len(got))
	require.Equal(t, seqIDs(0, n), sunkIDs(got))
	for i, m := range got {
		require.Equal(t, fmt.Sprintf("a.%d", i%3), m.subject)
		require.Equal(t, hdr, m.header)
		require.Equal(t, uint64(7), m.typ)
		require.False(t, m.replayed)
		require.False(t, m.redelivered)
		if i > 0 {
			require.Less(t, got[i-1].seq, m.seq, "in Seq order")
		}
	}

	s.Drained(400)
	require.Equal(t, SubStats{Delivered: n, Buffered: n - 400}, s.Stats())
	s.Drained(0) // nothing
	s.Drained(n - 400)
	require.Equal(t, SubStats{Delivered: n}, s.Stats())

	// With the sink empty again it takes the next one.
	publish(t, b, &Message{Subject: "a.0", Data: binary.BigEndian.AppendUint64(nil, n)})
	require.Equal(t, []int{n}, sunkIDs(k.take(nil)))
	require.Equal(t, SubStats{Delivered: n + 1, Buffered: 1}, s.Stats())
	s.Drained(1)
	require.Equal(t, SubStats{Delivered: n + 1}, s.Stats())
	require.Panics(t, func() { s.Drained(1) }, "Drained more than the sink took")
}

// sinkMsg is a message's identity in TestSinkRefusalKeepsOrder: its
// publisher and that publisher's counter (Data: both, 8 bytes each,
// big-endian), and its Seq.
type sinkMsg struct {
	pub, ctr, seq uint64
	fromSink      bool
}

func sinkMsgData(pub, ctr int) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(pub)), uint64(ctr))
}

func parseSinkMsg(data []byte, seq uint64, fromSink bool) sinkMsg {
	return sinkMsg{pub: binary.BigEndian.Uint64(data), ctr: binary.BigEndian.Uint64(data[8:]), seq: seq, fromSink: fromSink}
}

// sinkConsumer runs SetSink's consumer protocol until finished is closed
// and a turn that began after it found nothing: TakeBatch, then what the
// sink holds, handing on the sink's before the batch's, Drained, Done on
// the batch's, Wait when a turn found nothing. It returns what it handed
// on, in order.
func sinkConsumer(ctx context.Context, s *Subscription, k *testSink, finished <-chan struct{}) ([]sinkMsg, error) {
	var out []sinkMsg
	ds := make([]Delivery, 16)
	var spare []sunk
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-finished:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("consumer: %w after %d messages", err, len(out))
		}
		var last bool
		select {
		case <-finished: // every Publish has returned: its message is held
			last = true
		default:
		}
		n, err := s.TakeBatch(ds)
		if err != nil {
			return out, fmt.Errorf("TakeBatch: %w", err)
		}
		got := k.take(spare)
		for _, m := range got {
			out = append(out, parseSinkMsg(m.data, m.seq, true))
		}
		for i := range n {
			out = append(out, parseSinkMsg(ds[i].Data, ds[i].Seq, false))
			if err := ds[i].Done(); err != nil {
				return out, fmt.Errorf("Done: %w", err)
			}
		}
		s.Drained(len(got))
		spare = got
		if n > 0 || len(got) > 0 {
			continue
		}
		if last {
			return out, nil
		}
		if err := s.Wait(waitCtx); err != nil && ctx.Err() != nil {
			return out, fmt.Errorf("Wait: %w", err)
		}
	}
}

// TestSinkRefusalKeepsOrder: concurrent publishers, a sink that holds at
// most 7 messages and refuses some by content, a consumer following the
// protocol: every accepted message is handed on exactly once, in each
// publisher's order; with DropNewest, where no message waits for room,
// in Seq order across publishers too (doc.go's Order guarantee: with
// Block a message that waited may come after later ones of other
// publishers, so only the per-publisher order is promised).
func TestSinkRefusalKeepsOrder(t *testing.T) {
	perPub := 20_000
	if raceEnabled {
		perPub = 5_000
	}
	for _, tc := range []struct {
		overflow   Overflow
		publishers int
	}{
		{Block, 1},
		{Block, 4},
		{DropNewest, 4},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.overflow, tc.publishers), func(t *testing.T) {
			requireNoLeak(t)
			testSinkRefusalKeepsOrder(t, tc.overflow, tc.publishers, perPub)
		})
	}
}

func testSinkRefusalKeepsOrder(t *testing.T, overflow Overflow, publishers, perPub int) {
	b := newBus(t, Config{})
	s := subscribe(t, b, "feed", SubOptions{Buffer: 64, Overflow: overflow})
	k := &testSink{limit: 7, refuse: func(data []byte) bool {
		return binary.BigEndian.Uint64(data[8:])%13 == 5
	}}
	require.NoError(t, s.SetSink(k))
	ctx := testCtx(t, 60*time.Second)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()

	// accepted[p]: publisher p's counters that the subscription took
	// (all of them with Block), in publish order.
	accepted := make([][]uint64, publishers)
	dropped := make([]int, publishers)
	pubErr := make([]error, publishers)
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range perPub {
				res, err := b.Publish(pubCtx, &Message{Subject: "feed", Data: sinkMsgData(p, i)})
				if err != nil {
					pubErr[p] = fmt.Errorf("publisher %d, message %d: %w", p, i, err)
					return
				}
				switch res {
				case PublishResult{Delivered: 1}:
					accepted[p] = append(accepted[p], uint64(i))
				case PublishResult{Dropped: 1}:
					dropped[p]++
				default:
					pubErr[p] = fmt.Errorf("publisher %d, message %d: %+v", p, i, res)
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(finished)
	}()
	out, err := sinkConsumer(ctx, s, k, finished)
	if err != nil {
		stopPub() // Block publishers wait for no consumer
	}
	wg.Wait()
	require.NoError(t, err)
	for p := range publishers {
		require.NoError(t, pubErr[p])
	}

	totalDropped := 0
	for p := range publishers {
		totalDropped += dropped[p]
		if overflow == Block {
			require.Equal(t, perPub, len(accepted[p]), "publisher %d: Block loses nothing", p)
		}
	}
	total := publishers*perPub - totalDropped
	require.Equal(t, total, len(out), "every accepted message handed on once")

	// Per publisher: exactly the accepted counters, in order, Seq
	// increasing.
	got := make([][]uint64, publishers)
	lastSeq := make([]uint64, publishers)
	fromSink := 0
	for i, m := range out {
		require.Less(t, m.pub, uint64(publishers), "message %d: publisher", i)
		require.Greater(t, m.seq, lastSeq[m.pub], "message %d (publisher %d, counter %d): Seq within its publisher", i, m.pub, m.ctr)
		lastSeq[m.pub] = m.seq
		got[m.pub] = append(got[m.pub], m.ctr)
		if m.fromSink {
			fromSink++
			require.NotEqual(t, uint64(5), m.ctr%13, "the sink took a message it refused")
		}
	}
	for p := range publishers {
		requireSameCounters(t, p, accepted[p], got[p])
	}
	if overflow != Block || publishers == 1 {
		// No message waited for room (DropNewest), or one publisher:
		// the whole sequence is in Seq order.
		for i := 1; i < len(out); i++ {
			require.Less(t, out[i-1].seq, out[i].seq, "message %d (publisher %d, counter %d) after (publisher %d, counter %d)",
				i, out[i].pub, out[i].ctr, out[i-1].pub, out[i-1].ctr)
		}
	}

	puts, refused, _ := k.counts()
	require.Equal(t, fromSink, puts, "what the sink took was handed on")
	require.Positive(t, puts, "the sink took messages")
	require.Positive(t, refused, "the sink refused messages")
	require.Positive(t, total-fromSink, "messages went through the buffer")
	st := s.Stats()
	require.Equal(t, SubStats{Delivered: uint64(total), Dropped: uint64(totalDropped)}, st)
	t.Logf("%d handed on, %d by the sink, %d refusals, %d dropped", total, fromSink, refused, totalDropped)
}

// requireSameCounters checks that publisher p's messages handed on are
// exactly the accepted ones, in order, naming the first difference
// (rather than printing both lists).
func requireSameCounters(t *testing.T, p int, accepted, got []uint64) {
	t.Helper()
	for i := range min(len(accepted), len(got)) {
		if accepted[i] != got[i] {
			t.Fatalf("publisher %d: message %d handed on is counter %d, want %d (each accepted message once, in order)", p, i, got[i], accepted[i])
		}
	}
	require.Equal(t, len(accepted), len(got), "publisher %d: messages handed on", p)
}

// TestSinkOverflow: the messages a sink holds count against Buffer until
// Drained, and each overflow policy applies to them.
func TestSinkOverflow(t *testing.T) {
	t.Run("Block", func(t *testing.T) {
		requireNoLeak(t)
		b := newBus(t, Config{})
		tr := newTracker(10)
		s := subscribe(t, b, "t", SubOptions{Buffer: 4, Overflow: Block})
		k := &testSink{}
		require.NoError(t, s.SetSink(k))
		for id := 0; id < 4; id++ {
			require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
		}
		type result struct {
			res PublishResult
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := b.Publish(testCtx(t, 10*time.Second), tr.msg("t", 4))
			done <- result{res, err}
		}()
		eventually(t, "the publisher to wait", func() bool { return s.Stats().Waiting == 1 })
		select {
		case r := <-done:
			t.Fatalf("Publish returned %+v, %v while the sink held Buffer messages", r.res, r.err)
		case <-time.After(20 * time.Millisecond):
		}
		puts, _, _ := k.counts()
		require.Equal(t, 4, puts, "the waiting message was not offered")
		require.Equal(t, 0, tr.released(4))

		got := k.take(nil)
		require.Equal(t, []int{0, 1, 2, 3}, sunkIDs(got))
		s.Drained(1)
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, PublishResult{Delivered: 1}, r.res)
		require.Equal(t, []int{4}, sunkIDs(k.take(nil)), "the waiting message went to the sink once there was room")
		require.Equal(t, SubStats{Delivered: 5, Buffered: 4}, s.Stats())

		// Full again: a publisher with a short deadline gives up.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		res, err := b.Publish(ctx, tr.msg("t", 5))
		require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
		require.Equal(t, plexus.DeadlineExceeded, plexus.CodeOf(err))
		require.Equal(t, PublishResult{Dropped: 1}, res)
		require.Equal(t, SubStats{Delivered: 5, Dropped: 1, Buffered: 4}, s.Stats())
		require.Equal(t, 1, tr.released(5))
		require.Empty(t, k.take(nil), "the given-up message never reached the sink")

		s.Drained(4)
		require.Equal(t, SubStats{Delivered: 5, Dropped: 1}, s.Stats())
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", 6)))
		require.Equal(t, []int{6}, sunkIDs(k.take(nil)))
		s.Drained(1)
		tr.requireReleased(t, 7)
	})

	t.Run("DropNewest", func(t *testing.T) {
		b := newBus(t, Config{})
		tr := newTracker(5)
		s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: DropNewest})
		k := &testSink{}
		require.NoError(t, s.SetSink(k))
		for id := 0; id < 3; id++ {
			require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
		}
		res := publish(t, b, tr.msg("t", 3))
		require.Equal(t, PublishResult{Dropped: 1}, res)
		require.Equal(t, 1, res.Dropped)
		require.Equal(t, SubStats{Delivered: 3, Dropped: 1, Buffered: 3}, s.Stats())
		require.Equal(t, []int{0, 1, 2}, sunkIDs(k.take(nil)))
		s.Drained(3)
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", 4)))
		require.Equal(t, []int{4}, sunkIDs(k.take(nil)))
		s.Drained(1)
		tr.requireReleased(t, 5)
	})

	t.Run("End", func(t *testing.T) {
		b := newBus(t, Config{})
		tr := newTracker(5)
		s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: End})
		other := subscribe(t, b, "t", SubOptions{Buffer: 10})
		k := &testSink{}
		require.NoError(t, s.SetSink(k))
		for id := 0; id < 3; id++ {
			require.Equal(t, PublishResult{Delivered: 2}, publish(t, b, tr.msg("t", id)))
		}
		require.Equal(t, PublishResult{Delivered: 1, Dropped: 1}, publish(t, b, tr.msg("t", 3)))
		require.ErrorIs(t, s.Err(), plexus.ErrResourceExhausted)
		require.Equal(t, plexus.ResourceExhausted, plexus.CodeOf(s.Err()))
		select {
		case <-s.Ended():
		default:
			t.Fatal("Ended not closed")
		}
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", 4)), "the ended subscription takes nothing more")
		n, err := s.TakeBatch(make([]Delivery, 4))
		require.Zero(t, n)
		require.ErrorIs(t, err, plexus.ErrResourceExhausted)
		require.NoError(t, s.Wait(t.Context()), "ended")
		puts, _, _ := k.counts()
		require.Equal(t, 3, puts, "nothing offered to the sink after the end")
		require.Equal(t, []int{0, 1, 2}, sunkIDs(k.take(nil)), "what the sink took stays the consumer's")
		require.Equal(t, SubStats{Delivered: 3, Dropped: 1, Buffered: 3}, s.Stats())
		s.Drained(3)
		require.Equal(t, SubStats{Delivered: 3, Dropped: 1}, s.Stats())
		require.Equal(t, []int{0, 1, 2, 3, 4}, drain(t, other))
		tr.requireReleased(t, 5)
	})

	t.Run("Close", func(t *testing.T) {
		// What the sink took stays the consumer's when the bus closes,
		// as a delivery taken before the end does: Drained still works.
		b := newBus(t, Config{})
		tr := newTracker(2)
		s := subscribe(t, b, "t", SubOptions{Buffer: 3})
		k := &testSink{}
		require.NoError(t, s.SetSink(k))
		publish(t, b, tr.msg("t", 0))
		publish(t, b, tr.msg("t", 1))
		b.Close()
		require.ErrorIs(t, s.Err(), plexus.ErrUnavailable)
		require.Equal(t, []int{0, 1}, sunkIDs(k.take(nil)))
		require.NotPanics(t, func() { s.Drained(2) })
		require.Equal(t, SubStats{Delivered: 2}, s.Stats())
		tr.requireReleased(t, 2)
	})

	t.Run("DropOldest", func(t *testing.T) {
		b := newBus(t, Config{})
		tr := newTracker(5)
		s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: DropOldest})
		k := &testSink{}
		require.NoError(t, s.SetSink(k))
		for id := 0; id < 3; id++ {
			require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
		}
		require.Equal(t, PublishResult{Dropped: 1}, publish(t, b, tr.msg("t", 3)), "the sink holds everything: the arriving one is dropped")
		require.Equal(t, 1, tr.released(3))
		require.Equal(t, SubStats{Delivered: 3, Dropped: 1, Buffered: 3}, s.Stats())
		ids, _ := protocolStep(t, s, k, make([]Delivery, 4))
		require.Equal(t, []int{0, 1, 2}, ids)
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", 4)))
		ids, _ = protocolStep(t, s, k, make([]Delivery, 4))
		require.Equal(t, []int{4}, ids)
		require.Equal(t, SubStats{Delivered: 4, Dropped: 1}, s.Stats())
		tr.requireReleased(t, 5)
	})

	t.Run("DropOldestBuffered", func(t *testing.T) {
		// The sink holds 2 and refuses 2, which is buffered; 3 and 4
		// arrive full: the oldest buffered ones go, never the sink's.
		b := newBus(t, Config{})
		tr := newTracker(5)
		s := subscribe(t, b, "t", SubOptions{Buffer: 3, Overflow: DropOldest})
		k := &testSink{limit: 2}
		require.NoError(t, s.SetSink(k))
		for id := 0; id < 5; id++ {
			require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
		}
		require.Equal(t, []int{1, 1, 1, 1, 0}, releasedList(tr, 5), "0 and 1 copied by the sink, 2 and 3 evicted from the buffer")
		require.Equal(t, SubStats{Delivered: 2, Dropped: 2, Buffered: 3}, s.Stats())
		ids, fromSink := protocolStep(t, s, k, make([]Delivery, 4))
		require.Equal(t, []int{0, 1, 4}, ids)
		require.Equal(t, []bool{true, true, false}, fromSink)
		tr.requireReleased(t, 5)
	})
}

// TestSinkReplayFirst: history replayed into the buffer before SetSink
// keeps the sink out until TakeBatch finds the buffer empty; the
// protocol yields the replayed messages, then the new ones, in order.
func TestSinkReplayFirst(t *testing.T) {
	b := newBus(t, Config{History: 10})
	tr := newTracker(12)
	for id := 0; id < 5; id++ {
		publish(t, b, tr.msg("t", id))
	}
	s := subscribe(t, b, "t", SubOptions{History: AllHistory, Buffer: 16})
	k := &testSink{}
	require.NoError(t, s.SetSink(k))
	for id := 5; id < 8; id++ {
		require.Equal(t, PublishResult{Delivered: 1}, publish(t, b, tr.msg("t", id)))
	}
	puts, refused, _ := k.counts()
	require.Zero(t, puts+refused, "the sink is offered nothing while messages are buffered")
	require.Equal(t, 8, s.Stats().Buffered)

	ds := make([]Delivery, 4)
	var handed []int
	var seqs []uint64
	var replayed []bool
	step := func() int {
		n, err := s.TakeBatch(ds)
		require.NoError(t, err)
		got := k.take(nil)
		for _, m := range got {
			handed = append(handed, int(binary.BigEndian.Uint64(m.data)))
			seqs = append(seqs, m.seq)
			replayed = append(replayed, m.replayed)
		}
		for i := range n {
			handed = append(handed, idOf(&ds[i]))
			seqs = append(seqs, ds[i].Seq)
			replayed = append(replayed, ds[i].Replayed)
			require.NoError(t, ds[i].Done())
		}
		s.Drained(len(got))
		return n + len(got)
	}
	require.Equal(t, 4, step())
	require.Equal(t, 4, step(), "the buffer is emptied, but TakeBatch did not find it empty")
	// Between TakeBatch and the sink: still buffered, after the others.
	publish(t, b, tr.msg("t", 8))
	require.Equal(t, 1, step())
	puts, refused, _ = k.counts()
	require.Zero(t, puts+refused)
	require.Equal(t, 0, step(), "TakeBatch finds the buffer empty")
	publish(t, b, tr.msg("t", 9))
	puts, _, _ = k.counts()
	require.Equal(t, 1, puts, "then the sink takes the next one")
	require.Equal(t, 1, s.Stats().Buffered, "held by the sink")
	publish(t, b, tr.msg("t", 10))
	require.Equal(t, 2, step())
	require.Equal(t, seqIDs(0, 11), handed)
	for i := range handed {
		require.Equal(t, i < 5, replayed[i], "message %d: Replayed", i)
		if i > 0 {
			require.Less(t, seqs[i-1], seqs[i])
		}
	}
	require.Equal(t, SubStats{Delivered: 11}, s.Stats())

	// Messages buffered before SetSink (not replayed) also keep it out.
	s2 := subscribe(t, b, "u", SubOptions{})
	publish(t, b, &Message{Subject: "u", Data: binary.BigEndian.AppendUint64(nil, 0)})
	k2 := &testSink{}
	require.NoError(t, s2.SetSink(k2))
	publish(t, b, &Message{Subject: "u", Data: binary.BigEndian.AppendUint64(nil, 1)})
	ids, fromSink := protocolStep(t, s2, k2, ds)
	require.Equal(t, []int{0, 1}, ids)
	require.Equal(t, []bool{false, false}, fromSink)
	ids, _ = protocolStep(t, s2, k2, ds)
	require.Empty(t, ids)
	publish(t, b, &Message{Subject: "u", Data: binary.BigEndian.AppendUint64(nil, 2)})
	ids, fromSink = protocolStep(t, s2, k2, ds)
	require.Equal(t, []int{2}, ids)
	require.Equal(t, []bool{true}, fromSink)
}

// TestSinkRefusalThenEmpty: after a refusal the sink is offered nothing
// until TakeBatch (or TryNext) finds the buffer empty, even when it
// would take it, and the protocol hands on the sink's first.
func TestSinkRefusalThenEmpty(t *testing.T) {
	b := newBus(t, Config{})
	tr := newTracker(8)
	s := subscribe(t, b, "t", SubOptions{Buffer: 10})
	k := &testSink{refuse: func(data []byte) bool { return binary.BigEndian.Uint64(data) == 2 }}
	require.NoError(t, s.SetSink(k))
	for id := 0; id < 5; id++ {
		publish(t, b, tr.msg("t", id))
	}
	puts, refused, _ := k.counts()
	require.Equal(t, 2, puts, "0 and 1")
	require.Equal(t, 1, refused, "2, and 3 and 4 were not offered")
	ds := make([]Delivery, 2)
	ids, fromSink := protocolStep(t, s, k, ds)
	require.Equal(t, []int{0, 1, 2, 3}, ids)
	require.Equal(t, []bool{true, true, false, false}, fromSink)
	publish(t, b, tr.msg("t", 5))
	ids, _ = protocolStep(t, s, k, ds)
	require.Equal(t, []int{4, 5}, ids, "the buffer was not found empty: 5 went there too")

	// TryNext finding nothing lets the sink take again, as TakeBatch.
	d, err := s.TryNext()
	require.NoError(t, err)
	require.Nil(t, d)
	publish(t, b, tr.msg("t", 6))
	require.Equal(t, []int{6}, sunkIDs(k.take(nil)))
	s.Drained(1)
	require.Equal(t, SubStats{Delivered: 7}, s.Stats())
	tr.requireReleased(t, 7)
}

// TestSinkWait: Wait returns while the sink holds messages not Drained,
// and wakes when the sink takes one.
func TestSinkWait(t *testing.T) {
	requireNoLeak(t)
	b := newBus(t, Config{})
	s := subscribe(t, b, "t", SubOptions{})
	k := &testSink{}
	require.NoError(t, s.SetSink(k))
	// First, as no Wait has left a channel behind: the goroutine's Wait
	// is waiting once there is one.
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(testCtx(t, 10*time.Second)) }()
	eventually(t, "Wait to wait", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.avail.ch != nil
	})
	publish(t, b, &Message{Subject: "t", Data: binary.BigEndian.AppendUint64(nil, 0)})
	require.NoError(t, <-waited, "woken when the sink took one")
	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	require.NoError(t, s.Wait(short), "the sink holds one not Drained")
	require.Equal(t, []int{0}, sunkIDs(k.take(nil)))
	s.Drained(1)
	short2, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, s.Wait(short2), plexus.ErrDeadlineExceeded, "Drained: nothing held")
}

// TestSinkRefused: SetSink fails on a queue member, on a subscription
// with a sink, and on one that ended (with its status).
func TestSinkRefused(t *testing.T) {
	b := newBus(t, Config{})
	m := subscribe(t, b, "t", SubOptions{Queue: "q"})
	err := m.SetSink(&testSink{})
	require.Equal(t, plexus.FailedPrecondition, plexus.CodeOf(err))
	publish(t, b, &Message{Subject: "t", Data: binary.BigEndian.AppendUint64(nil, 0)})
	require.Equal(t, []int{0}, drain(t, m), "the member was left as it was")

	s := subscribe(t, b, "t", SubOptions{})
	first := &testSink{}
	require.NoError(t, s.SetSink(first))
	second := &testSink{}
	err = s.SetSink(second)
	require.Equal(t, plexus.FailedPrecondition, plexus.CodeOf(err))
	publish(t, b, &Message{Subject: "t", Data: binary.BigEndian.AppendUint64(nil, 1)})
	require.Equal(t, []int{1}, sunkIDs(first.take(nil)), "the first sink stays")
	require.Empty(t, second.take(nil))
	s.Drained(1)

	u := subscribe(t, b, "t", SubOptions{})
	u.Unsubscribe()
	err = u.SetSink(&testSink{})
	require.Equal(t, plexus.Canceled, plexus.CodeOf(err))
	require.Equal(t, u.Err(), err)

	kd := subscribe(t, b, "t", SubOptions{})
	kd.Kill(plexus.Errorf(plexus.PeerDied, "gone"))
	err = kd.SetSink(&testSink{})
	require.Equal(t, plexus.PeerDied, plexus.CodeOf(err))

	ctx, cancel := context.WithCancel(t.Context())
	c, err := b.Subscribe(ctx, "t", SubOptions{})
	require.NoError(t, err)
	cancel()
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription did not end with its context")
	}
	require.Equal(t, plexus.Canceled, plexus.CodeOf(c.SetSink(&testSink{})))
}

// TestSinkPayloadReleased: a message the sink takes is released once
// Publish returns (the sink copied it), exactly once; one also buffered
// elsewhere, or refused by the sink, waits for its Done.
func TestSinkPayloadReleased(t *testing.T) {
	requireNoLeak(t)
	const n = 50
	b := newBus(t, Config{})
	tr := newTracker(n + 4)
	s := subscribe(t, b, "t", SubOptions{Buffer: 2 * n})
	k := &testSink{refuse: func(data []byte) bool { return binary.BigEndian.Uint64(data) == n }}
	require.NoError(t, s.SetSink(k))
	for id := 0; id < n; id++ {
		publish(t, b, tr.msg("t", id))
		require.Equal(t, 1, tr.released(id), "message %d: released when Publish returned", id)
	}
	got := k.take(nil)
	require.Equal(t, seqIDs(0, n), sunkIDs(got), "the sink's copies outlive the payloads")
	s.Drained(n)

	// Refused: buffered, released at its Done.
	publish(t, b, tr.msg("t", n))
	require.Equal(t, 0, tr.released(n))
	ds := make([]Delivery, 2)
	ids, _ := protocolStep(t, s, k, ds)
	require.Equal(t, []int{n}, ids)
	require.Equal(t, 1, tr.released(n))
	ids, _ = protocolStep(t, s, k, ds) // finds the buffer empty
	require.Empty(t, ids)

	// Also buffered by another subscription: released at its Done.
	other := subscribe(t, b, "t", SubOptions{})
	publish(t, b, tr.msg("t", n+1))
	require.Equal(t, 0, tr.released(n+1))
	require.Equal(t, []int{n + 1}, sunkIDs(k.take(nil)))
	s.Drained(1)
	require.Equal(t, 0, tr.released(n+1), "the sink's is not the last reference")
	require.Equal(t, []int{n + 1}, drain(t, other))
	require.Equal(t, 1, tr.released(n+1))
	other.Unsubscribe()

	// Taken by the sink after waiting for room (Block).
	small := subscribe(t, b, "w", SubOptions{Buffer: 1})
	ks := &testSink{}
	require.NoError(t, small.SetSink(ks))
	publish(t, b, tr.msg("w", n+2))
	require.Equal(t, 1, tr.released(n+2))
	errc := make(chan error, 1)
	go func() {
		_, err := b.Publish(testCtx(t, 10*time.Second), tr.msg("w", n+3))
		errc <- err
	}()
	eventually(t, "the publisher to wait", func() bool { return small.Stats().Waiting == 1 })
	require.Equal(t, 0, tr.released(n+3))
	require.Equal(t, []int{n + 2}, sunkIDs(ks.take(nil)))
	small.Drained(1)
	require.NoError(t, <-errc)
	require.Equal(t, 1, tr.released(n+3), "released once the waiting Publish returned")
	require.Equal(t, []int{n + 3}, sunkIDs(ks.take(nil)))
	small.Drained(1)
	tr.requireReleased(t, n+4)
}
