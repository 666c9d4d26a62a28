package delivery_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
)

// TestChaosKills: acknowledged notifications to a plugin process that is
// killed with SIGKILL at random moments, six times, while they flow: the
// host's Sender resends what each dead instance had not acknowledged to
// its successor, and the plugin, whose Store is the file its handler
// writes, handles every message exactly once across its instances (each
// ID is in the file once, with its payload); every receipt settles
// without error, no Send blocks for good (the whole test is bounded), and
// nothing stays pending.
func TestChaosKills(t *testing.T) {
	// 10,000 messages, under the race detector too (about 3 s there on
	// two cores, 0.6 s without).
	const n, kills = 10000, 6
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	file, dups := filepath.Join(dir, "handled"), filepath.Join(dir, "dups")
	c := startPlugin(t, "chaos", fileEnv+"="+file, dupsEnv+"="+dups)

	var acked atomic.Int64
	s := delivery.NewSender(c, delivery.SenderConfig{AckTimeout: 2 * time.Second,
		OnAck: func(_ string, err error) {
			if err == nil {
				acked.Add(1)
			}
		}})
	t0 := time.Now()

	// The killer: one kill at a random point of each sixth of the first
	// 90% of the acknowledgements, so that every kill lands while
	// messages flow, each after the previous instance's successor is up.
	killed := make(chan int, 1)
	go func() {
		done := 0
		defer func() { killed <- done }()
		span := int64(n) * 9 / 10 / kills
		for k := range int64(kills) {
			at := k*span + rand.Int64N(span)
			for acked.Load() < at {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			pid := c.Pid()
			if pid == 0 || syscall.Kill(pid, syscall.SIGKILL) != nil {
				return
			}
			done++
			for p := c.Pid(); p == pid || p == 0; p = c.Pid() {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()

	receipts := make([]*delivery.Receipt, n)
	for i := range n {
		r, err := s.Send(ctx, noteID, plexus.Raw(strconv.Itoa(i)))
		require.NoError(t, err, "Send %d", i)
		receipts[i] = r
	}
	for i, r := range receipts {
		require.NoError(t, r.Wait(ctx), "message %d", i)
	}
	took := time.Since(t0)
	require.Equal(t, kills, <-killed, "kills while the messages flowed")
	st := s.Stats()
	require.Zero(t, st.Pending, "nothing pending")
	require.Zero(t, st.PendingBytes)
	require.Equal(t, uint64(n), st.Acked)
	require.Zero(t, st.Failed)
	require.NoError(t, s.Close(ctx))
	restarts := c.Restarts()
	require.GreaterOrEqual(t, restarts, kills)
	require.NoError(t, c.Close())

	// Every message handled, once, with its payload.
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := bytes.Split(b, []byte("\n"))
	require.Empty(t, lines[len(lines)-1], "the file ends with a complete line")
	lines = lines[:len(lines)-1]
	payload := make(map[string]string, n)
	for _, l := range lines {
		id, p, ok := bytes.Cut(l, []byte(" "))
		require.True(t, ok, "malformed line %q", l)
		_, twice := payload[string(id)]
		require.False(t, twice, "message %s handled twice", id)
		payload[string(id)] = string(p)
	}
	for i, r := range receipts {
		p, ok := payload[r.ID()]
		require.True(t, ok, "message %d (%s) never handled", i, r.ID())
		require.Equal(t, strconv.Itoa(i), p, "message %s", r.ID())
	}
	require.Len(t, lines, n)

	d, err := os.ReadFile(dups)
	require.NoError(t, err)
	t.Logf("%d messages, %d SIGKILLs (%d restarts) in %v: %d attempts (%d resends), %d duplicates acknowledged without handling",
		n, kills, restarts, took.Round(time.Millisecond), st.Attempts, st.Attempts-uint64(n), bytes.Count(d, []byte("\n")))
}
