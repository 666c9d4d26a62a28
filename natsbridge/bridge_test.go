package natsbridge

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/bus"
)

// startNATS runs a NATS server in this process on a loopback port (port 0:
// a free one), stopped at cleanup.
func startNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second), "nats server did not start")
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t *testing.T, url string) *nats.Conn { return connectWait(t, url, 20*time.Millisecond) }

func connectWait(t *testing.T, url string, wait time.Duration) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(wait),
		nats.ReconnectJitter(0, 0), nats.Timeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// hostSide is one host's bus and bridge.
type hostSide struct {
	bus *bus.Bus
	br  *Bridge
	nc  *nats.Conn
}

// routes: events fanned out everywhere, jobs spread over one queue group
// of every host's workers.
var (
	exports = []Route{{Pattern: "doc.>"}, {Pattern: "jobs.>"}}
	imports = []Route{{Pattern: "doc.>"}, {Pattern: "jobs.>", Queue: "workers", Prefix: "net"}}
)

func newHostSide(t *testing.T, url string) *hostSide {
	return newHostSideWait(t, url, 20*time.Millisecond)
}

func newHostSideWait(t *testing.T, url string, reconnectWait time.Duration) *hostSide {
	t.Helper()
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	nc := connectWait(t, url, reconnectWait)
	br, err := New(Config{Bus: b, Conn: nc, Export: exports, Import: imports})
	require.NoError(t, err)
	t.Cleanup(br.Close)
	require.NoError(t, nc.Flush()) // the subscriptions are on the server
	return &hostSide{bus: b, br: br, nc: nc}
}

func subscribe(t *testing.T, b *bus.Bus, pattern, queue string) *bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), pattern, bus.SubOptions{Queue: queue, Buffer: 1 << 16})
	require.NoError(t, err)
	t.Cleanup(s.Unsubscribe)
	return s
}

func publish(t *testing.T, b *bus.Bus, subject string, data string) {
	t.Helper()
	_, err := b.Publish(context.Background(), &bus.Message{Subject: subject, Data: []byte(data)})
	require.NoError(t, err)
}

// collect takes n deliveries from s within the bound.
func collect(t *testing.T, s *bus.Subscription, n int, within time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var got []string
	for len(got) < n {
		d, err := s.Next(ctx)
		require.NoError(t, err, "after %d of %d on %s", len(got), n, s.Pattern())
		got = append(got, d.Subject+"="+string(d.Data))
		require.NoError(t, d.Done())
	}
	return got
}

// quiet checks that nothing more arrives on s for a while: the bound of
// a negative check, since "never" cannot be waited for.
func quiet(t *testing.T, s *bus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	d, err := s.Next(ctx)
	require.Error(t, err, "unexpected %v", d)
}

// TestFanOutAcrossHosts: an event published on one host reaches the
// subscribers of both hosts exactly once each, in order, with its header;
// nothing loops back.
func TestFanOutAcrossHosts(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := newHostSide(t, ns.ClientURL()), newHostSide(t, ns.ClientURL())
	onA, onB := subscribe(t, a.bus, "doc.*.saved", ""), subscribe(t, b.bus, "doc.>", "")
	const n = 200
	for i := range n {
		_, err := a.bus.Publish(context.Background(), &bus.Message{Subject: fmt.Sprintf("doc.%d.saved", i), Data: []byte("x"), Header: map[string]string{"who": "a"}})
		require.NoError(t, err)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("doc.%d.saved=x", i)
	}
	require.Equal(t, want, collect(t, onA, n, 10*time.Second), "local subscribers, once each")
	require.Equal(t, want, collect(t, onB, n, 10*time.Second), "the other host's, once each, in order")
	quiet(t, onA)
	quiet(t, onB)
	require.EqualValues(t, n, a.br.Stats().Exported)
	require.Zero(t, a.br.Stats().Imported, "its own exports are not imported back")
	require.EqualValues(t, n, b.br.Stats().Imported)
	require.Zero(t, b.br.Stats().Exported, "imported messages are not exported again")

	// The other way, and the header crosses.
	publish(t, b.bus, "doc.9.saved", "from b")
	got := collect(t, onA, 1, 10*time.Second)
	require.Equal(t, []string{"doc.9.saved=from b"}, got)
}

// TestQueueGroupAcrossHosts: jobs published on either host are spread
// over the workers of both hosts, each job to exactly one worker.
func TestQueueGroupAcrossHosts(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := newHostSide(t, ns.ClientURL()), newHostSide(t, ns.ClientURL())
	var workers []*bus.Subscription
	for _, h := range []*hostSide{a, a, b, b} {
		workers = append(workers, subscribe(t, h.bus, "net.jobs.>", "w"))
	}
	const n = 2000
	for i := range n {
		h := a
		if i%3 == 0 {
			h = b
		}
		publish(t, h.bus, fmt.Sprintf("jobs.%d", i), "")
	}
	seen := make([]int, n)
	var mu sync.Mutex
	perHost := [2]int{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	total := make(chan int, 4)
	for wi, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for {
				d, err := w.Next(ctx)
				if err != nil {
					total <- k
					return
				}
				var i int
				_, _ = fmt.Sscanf(d.Subject, "net.jobs.%d", &i)
				mu.Lock()
				seen[i]++
				perHost[wi/2]++
				done := sum(perHost) == n
				mu.Unlock()
				_ = d.Done()
				k++
				if done {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range seen {
		require.Equal(t, 1, c, "job %d taken %d times", i, c)
	}
	require.Positive(t, perHost[0], "host a's workers took jobs")
	require.Positive(t, perHost[1], "host b's workers took jobs")
	t.Logf("jobs per host: %v", perHost)
}

func sum(v [2]int) int { return v[0] + v[1] }

// TestNATSRestart: while the NATS server is down, local delivery goes on
// and exports wait in the connection's reconnect buffer; when the server
// is back at the same address, the bridges reconnect and subscribe again
// by themselves, the buffered exports arrive on the other host in order,
// and new messages flow both ways. The exporting host (a) retries its
// connection less often than the receiving one (b): buffered exports
// reach the hosts whose subscriptions are back when the exporter
// reconnects, and core NATS keeps them for no one else (see the package
// comment), so the order of the two reconnections decides; here b is
// back first.
func TestNATSRestart(t *testing.T) {
	port := freePort(t)
	ns := startNATS(t, port)
	url := ns.ClientURL()
	a, b := newHostSideWait(t, url, 300*time.Millisecond), newHostSide(t, url)
	onA, onB := subscribe(t, a.bus, "doc.>", ""), subscribe(t, b.bus, "doc.>", "")
	publish(t, a.bus, "doc.before", "1")
	collect(t, onA, 1, 10*time.Second)
	collect(t, onB, 1, 10*time.Second)

	ns.Shutdown()
	ns.WaitForShutdown()
	require.Eventually(t, func() bool { return !a.nc.IsConnected() && !b.nc.IsConnected() }, 10*time.Second, 5*time.Millisecond)
	const n = 100
	for i := range n {
		publish(t, a.bus, fmt.Sprintf("doc.down.%d", i), "")
	}
	require.Len(t, collect(t, onA, n, 10*time.Second), n, "local delivery does not need NATS")

	ns2 := startNATS(t, port)
	require.Equal(t, url, ns2.ClientURL())
	require.Eventually(t, func() bool { return a.nc.IsConnected() && b.nc.IsConnected() }, 20*time.Second, 10*time.Millisecond)
	got := collect(t, onB, n, 20*time.Second)
	for i, s := range got {
		require.Equal(t, fmt.Sprintf("doc.down.%d=", i), s, "the buffered exports, in order")
	}
	// Subscriptions came back too: the other way.
	require.NoError(t, b.nc.Flush())
	require.Eventually(t, func() bool {
		publish(t, b.bus, "doc.after", "2")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		for {
			d, err := onA.Next(ctx)
			if err != nil {
				return false
			}
			_ = d.Done()
			if d.Subject == "doc.after" {
				return true
			}
		}
	}, 20*time.Second, time.Millisecond, "b's messages reach a again")
	require.Zero(t, a.br.Stats().ExportDropped)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRoutesRefused: malformed routes and a queue import without a prefix.
func TestRoutesRefused(t *testing.T) {
	ns := startNATS(t, 0)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	nc := connect(t, ns.ClientURL())
	for _, cfg := range []Config{
		{Bus: b, Conn: nc, Export: []Route{{Pattern: "a..b"}}},
		{Bus: b, Conn: nc, Import: []Route{{Pattern: "a.>.b"}}},
		{Bus: b, Conn: nc, Import: []Route{{Pattern: "jobs.>", Queue: "w"}}},
		{Bus: b, Conn: nc, Export: []Route{{Pattern: "jobs.>", Queue: "w"}}},
		{Bus: b, Conn: nc, Import: []Route{{Pattern: "jobs.>", Prefix: "bad prefix"}}},
		{Bus: b},
	} {
		_, err := New(cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

// TestTypedAcrossHosts: a typed message keeps its type across NATS: the
// other host's typed subscriber of that type gets it, and the subject then
// carries the type there too, so a subscriber of another type is refused.
func TestTypedAcrossHosts(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := newHostSide(t, ns.ClientURL()), newHostSide(t, ns.ClientURL())
	ctx := context.Background()
	const typ = 0xfeedface
	onB, err := b.bus.Subscribe(ctx, "doc.>", bus.SubOptions{Type: typ})
	require.NoError(t, err)
	defer onB.Unsubscribe()
	_, err = a.bus.Publish(ctx, &bus.Message{Subject: "doc.7.saved", Data: []byte("v"), Type: typ})
	require.NoError(t, err)
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := onB.Next(nctx)
	require.NoError(t, err)
	require.EqualValues(t, typ, d.Type)
	require.Empty(t, d.Header[TypeHeader], "the type travels as the message's type, not a header")
	require.NoError(t, d.Done())
	_, err = b.bus.Subscribe(ctx, "doc.7.*", bus.SubOptions{Type: typ + 1})
	require.Error(t, err, "the subject carries the type on this host too")
}
