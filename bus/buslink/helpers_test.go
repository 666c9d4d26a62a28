package buslink_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
)

// transportKind makes the two ends of a link: host's, plugin's.
type transportKind struct {
	name string
	pair func(t *testing.T) (host, plugin transport.Transport)
}

// transports are the transports every scenario runs on; the shared-memory
// one is added on Linux (shm_linux_test.go).
var transports = []transportKind{
	{"inproc", func(*testing.T) (transport.Transport, transport.Transport) {
		a, b := inproc.Pipe(inproc.Config{})
		return a, b
	}},
	{"unix", func(t *testing.T) (transport.Transport, transport.Transport) {
		a, b, err := stream.Pair(stream.Config{})
		require.NoError(t, err)
		return a, b
	}},
	{"tcp", tcpPair},
}

// tcpPair is a link over a TCP connection on loopback.
func tcpPair(t *testing.T) (transport.Transport, transport.Transport) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plug, err := streamnet.Dial(ctx, "tcp", l.Addr().String(), stream.Config{})
	require.NoError(t, err)
	c := <-accepted
	require.NotNil(t, c, "accept on loopback")
	return stream.New(c, stream.Config{}), plug
}

// eachTransport runs fn as a subtest per transport.
func eachTransport(t *testing.T, fn func(t *testing.T, tk transportKind)) {
	for _, tk := range transports {
		t.Run(tk.name, func(t *testing.T) { fn(t, tk) })
	}
}

// hub is a host: a bus served on a Mux, and the plugins linked to it.
type hub struct {
	t   *testing.T
	tk  transportKind
	bus *bus.Bus
	mux *session.Mux
}

func newHub(t *testing.T, tk transportKind, cfg bus.Config) *hub {
	t.Helper()
	b, err := bus.New(cfg)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	mux := session.NewMux()
	require.NoError(t, buslink.Register(mux, b))
	return &hub{t: t, tk: tk, bus: b, mux: mux}
}

// peer is one linked plugin: its session to the host, and the host's
// session to it (closing which is the plugin's death as the host sees it).
type peer struct {
	conn, hostSide *session.Session
	client         *buslink.Client
}

// link links a new plugin to the hub.
func (h *hub) link() *peer {
	h.t.Helper()
	ht, pt := h.tk.pair(h.t)
	hs := session.New(ht, session.Config{Role: session.Initiator, Mux: h.mux, KeepaliveIdle: -1})
	ps := session.New(pt, session.Config{Role: session.Acceptor, KeepaliveIdle: -1})
	h.t.Cleanup(func() {
		_ = ps.Close()
		_ = hs.Close()
	})
	return &peer{conn: ps, hostSide: hs, client: buslink.NewClient(ps)}
}

// waitSubs waits for the bus to have n subscriptions.
func (h *hub) waitSubs(n int) {
	h.t.Helper()
	eventually(h.t, "bus subscriptions", func() bool { return h.bus.Stats().Subscriptions == n })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits, at most 10 s, for a condition another goroutine
// brings about.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// tracker hands out messages whose payloads count their releases.
type tracker struct {
	counts   []atomic.Int32
	released atomic.Int64
	all      chan struct{} // closed when every message was released once
}

func newTracker(n int) *tracker {
	return &tracker{counts: make([]atomic.Int32, n), all: make(chan struct{})}
}

type countPayload struct {
	tr *tracker
	id int
}

func (p countPayload) Release() {
	p.tr.counts[p.id].Add(1)
	if p.tr.released.Add(1) == int64(len(p.tr.counts)) {
		close(p.tr.all)
	}
}

// msg is message id on subject, with a payload counting its releases;
// Data is id, 8 bytes big-endian, padded to size.
func (tr *tracker) msg(subject string, id, size int) *bus.Message {
	data := make([]byte, max(8, size))
	binary.BigEndian.PutUint64(data, uint64(id))
	return &bus.Message{Subject: subject, Data: data, Payload: countPayload{tr, id}}
}

// requireReleased checks that every message was released exactly once.
func (tr *tracker) requireReleased(t *testing.T) {
	t.Helper()
	for id := range tr.counts {
		require.Equal(t, int32(1), tr.counts[id].Load(), "message %d released %d times", id, tr.counts[id].Load())
	}
}

func idOf(data []byte) int { return int(binary.BigEndian.Uint64(data)) }

// msgOf is message id on subject without a payload.
func msgOf(subject string, id int) *bus.Message {
	return &bus.Message{Subject: subject, Data: binary.BigEndian.AppendUint64(nil, uint64(id))}
}

// nextIDs takes n deliveries, marks them Done, and returns their IDs.
func nextIDs(t *testing.T, s *buslink.Subscription, n int) []int {
	t.Helper()
	ctx := testCtx(t)
	ids := make([]int, 0, n)
	for range n {
		d, err := s.Next(ctx)
		require.NoError(t, err)
		ids = append(ids, idOf(d.Data))
		require.NoError(t, d.Done())
	}
	return ids
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func requireCode(t *testing.T, err error, code plexus.Code) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, plexus.CodeOf(err), "%v", err)
}
