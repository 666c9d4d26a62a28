package buslink_test

import (
	"context"
	"encoding/binary"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// TestQueueGroupAcrossProcesses: four plugin processes, linked to the
// host over shared memory, form one queue group and consume 100,000
// messages the host publishes (20,000 under the race detector); one is
// SIGKILLed midway. Every message is acknowledged exactly once on the
// host (each payload is released once, when its delivery is Done there,
// and none was dropped or orphaned), none is lost, and each is processed
// (reported by a plugin before it acknowledges) at least once. The
// victim stops acknowledging after n/8 messages (about midway) and is
// killed once it has reported its whole buffer (64) processed and
// unacknowledged:
// exactly those are redelivered to the survivors and processed a second
// time, the at-least-once edge of a death; no other message is
// processed twice.
func TestQueueGroupAcrossProcesses(t *testing.T) {
	n := 100000
	if raceEnabled {
		n = 20000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	reports, err := b.Subscribe(ctx, "report.*", bus.SubOptions{Buffer: 4096})
	require.NoError(t, err)
	mux := hostMux(t, b)
	// The victim takes about a quarter of the messages: it stalls about
	// midway.
	stall := n / 8
	clients, pids := startWorkers(t, mux, 4, stall)
	victim := pids[0]

	tr := newTracker(n)
	published := make(chan error, 1)
	t0 := time.Now()
	go func() {
		for id := range n {
			if _, err := b.Publish(ctx, tr.msg("work", id, 8)); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()

	// Reports: who processed each message. The victim is killed once it
	// has reported its stalled buffer. (A publisher that finds every
	// member full waits for room in any of them, not in the stalled
	// victim only.)
	rl := &reportLog{by: make([][]int, n), byPid: map[int]int{}}
	for {
		d, err := nextOrReleased(ctx, reports, tr)
		require.NoError(t, err)
		if d == nil {
			break
		}
		rl.add(t, d)
		if rl.killedAt == 0 && rl.byPid[victim] == stall+workerBuffer {
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			rl.killedAt = rl.seen
		}
	}
	took := time.Since(t0)
	require.NoError(t, <-published)
	// The last reports may still be buffered: take them.
	for {
		d, err := reports.TryNext()
		require.NoError(t, err)
		if d == nil {
			break
		}
		rl.add(t, d)
	}
	tr.requireReleased(t)
	require.Zero(t, b.Stats().Orphaned)
	twice := rl.check(t, victim)
	require.Equal(t, workerBuffer, twice, "the victim's unacknowledged buffer, processed again")
	require.Equal(t, workerBuffer, rl.redelivered)
	select {
	case <-clients[0].Exited():
	case <-ctx.Done():
		t.Fatal("the killed plugin's client did not end")
	}
	for _, pid := range pids[1:] {
		require.Positive(t, rl.byPid[pid], "worker %d processed messages", pid)
	}
	t.Logf("%d messages in %v (%.0f/s) through 4 plugin processes, one SIGKILLed after %d reports: per pid %v; %d redelivered, %d processed twice (by the victim, unacknowledged)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), rl.killedAt, rl.byPid, rl.redelivered, twice)
}

// reportLog is what the plugins reported processing.
type reportLog struct {
	by                          [][]int // message ID -> pids
	byPid                       map[int]int
	seen, killedAt, redelivered int
}

func (rl *reportLog) add(t *testing.T, d *bus.Delivery) {
	t.Helper()
	pid, err := strconv.Atoi(subjectTail(d.Subject, "report."))
	require.NoError(t, err)
	id := idOf(d.Data)
	require.Less(t, id, len(rl.by))
	rl.by[id] = append(rl.by[id], pid)
	rl.byPid[pid]++
	if d.Header["redelivered"] != "" {
		rl.redelivered++
	}
	rl.seen++
	require.NoError(t, d.Done())
}

// check requires every message processed, at most twice and then by the
// victim too, and returns how many were processed twice.
func (rl *reportLog) check(t *testing.T, victim int) (twice int) {
	t.Helper()
	for id, pids := range rl.by {
		require.NotEmpty(t, pids, "message %d never processed", id)
		if len(pids) > 1 {
			require.Len(t, pids, 2, "message %d processed by %v", id, pids)
			require.Contains(t, pids, victim, "message %d processed twice without the victim: %v", id, pids)
			twice++
		}
	}
	require.Positive(t, rl.killedAt)
	require.Positive(t, rl.redelivered, "the victim's messages went to the others")
	return twice
}

// startWorkers starts n queue workers, the first stalling after stall
// messages, and returns their clients and pids.
func startWorkers(t *testing.T, mux *session.Mux, n, stall int) ([]*host.Client, []int) {
	clients := make([]*host.Client, n)
	pids := make([]int, n)
	for i := range clients {
		var env []string
		if i == 0 {
			env = []string{stallEnv + "=" + strconv.Itoa(stall)}
		}
		clients[i] = startPlugin(t, mux, "queue", "worker"+strconv.Itoa(i), false, env...)
		pids[i] = clients[i].Pid()
	}
	return clients, pids
}

// nextOrReleased returns the next report, or nil once every payload of
// tr was released (every message acknowledged on the host) and no report
// is buffered.
func nextOrReleased(ctx context.Context, s *bus.Subscription, tr *tracker) (*bus.Delivery, error) {
	for {
		if d, err := s.TryNext(); d != nil || err != nil {
			return d, err
		}
		select {
		case <-tr.all:
			return nil, nil
		default:
		}
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(ctx, cancel)
		go func() {
			select {
			case <-tr.all:
				cancel()
			case <-wctx.Done():
			}
		}()
		d, err := s.Next(wctx)
		cancel()
		stop()
		if d != nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
}

// TestFanOutAcrossProcesses: three plugin processes subscribe to "fan.>";
// one publishes 1,000 messages (unary Publish, each reaching four
// subscriptions: the three plugins' and the host's); the host receives
// them directly, the two other plugins through the host's bus, and each
// echoes every one (PublishAsync) back to the host, in order.
func TestFanOutAcrossProcesses(t *testing.T) {
	const n = 1000
	ctx := testCtx(t)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	fan, err := b.Subscribe(ctx, "fan.>", bus.SubOptions{Buffer: n})
	require.NoError(t, err)
	echo1, err := b.Subscribe(ctx, "echo.p1", bus.SubOptions{Buffer: n})
	require.NoError(t, err)
	echo2, err := b.Subscribe(ctx, "echo.p2", bus.SubOptions{Buffer: n})
	require.NoError(t, err)
	echo0, err := b.Subscribe(ctx, "echo.p0", bus.SubOptions{Buffer: n})
	require.NoError(t, err)
	mux := hostMux(t, b)
	p0 := startPlugin(t, mux, "fan", "p0", false)
	startPlugin(t, mux, "fan", "p1", false)
	startPlugin(t, mux, "fan", "p2", false)

	var resp plexus.Raw
	require.NoError(t, p0.Invoke(ctx, publishID, plexus.Raw(binary.BigEndian.AppendUint64(nil, n)), &resp))
	require.Equal(t, uint64(4*n), binary.BigEndian.Uint64(resp), "each message reached four subscriptions")
	for _, s := range []*bus.Subscription{fan, echo1, echo2} {
		for id := range n {
			d, err := s.Next(ctx)
			require.NoError(t, err)
			require.Equal(t, id, idOf(d.Data), "%s", s.Pattern())
			require.NoError(t, d.Done())
		}
	}
	d, err := echo0.TryNext()
	require.NoError(t, err)
	require.Nil(t, d, "p0 does not echo its own messages")
}

// TestRestartResubscribes: a plugin restarted by the host after a
// SIGKILL subscribes again when linked (in OnLink) and receives the
// messages published afterwards; the dead instance's subscription is
// gone from the bus.
func TestRestartResubscribes(t *testing.T) {
	ctx := testCtx(t)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	echo, err := b.Subscribe(ctx, "echo.r", bus.SubOptions{})
	require.NoError(t, err)
	c := startPlugin(t, hostMux(t, b), "fan", "r", true)
	roundTrip := func(id int) {
		t.Helper()
		res, err := b.Publish(ctx, msgOf("fan.host", id))
		require.NoError(t, err)
		require.Equal(t, 1, res.Delivered, "the plugin's subscription")
		d, err := echo.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, id, idOf(d.Data))
		require.NoError(t, d.Done())
	}
	roundTrip(1)
	old := c.Pid()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	// Calls through the client wait for the restarted instance; one
	// that raced the death fails with it, and is made again.
	for {
		var resp plexus.Raw
		err := c.Invoke(ctx, readyID, plexus.Raw{}, &resp)
		if err == nil && int(binary.BigEndian.Uint64(resp)) != old {
			break
		}
		require.NoError(t, ctx.Err())
		if err != nil {
			require.Contains(t, []plexus.Code{plexus.PeerDied, plexus.LinkClosed, plexus.Unavailable}, plexus.CodeOf(err), "%v", err)
		}
	}
	eventually(t, "the dead instance's subscription to end", func() bool { return b.Stats().Subscriptions == 2 })
	roundTrip(2)
	require.GreaterOrEqual(t, c.Restarts(), 1)
}
