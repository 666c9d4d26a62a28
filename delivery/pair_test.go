package delivery_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// The receiving side's application service in the in-process tests: a
// notification whose handler records what it was given, and a unary
// method (not a notification, so not a target).
const sinkName = "test.Sink"

var (
	noteID = plexus.MethodID(sinkName, "Note")
	echoID = plexus.MethodID(sinkName, "Echo")
)

// handled is one run of the Note handler.
type handled struct {
	id, msg string
	md      plexus.Metadata
	ctxDone bool // whether the handler's context had ended when it returned
}

// sink is the Note handler's state. With gate set, each run first says
// it entered (on entered) and waits for gate to be closed or to receive.
type sink struct {
	mu       sync.Mutex
	runs     []handled
	returned int // runs that have returned

	gate    chan struct{}
	entered chan string
	panics  int // the next runs that panic instead of handling
}

func newSink() *sink { return &sink{entered: make(chan string, 1024)} }

func (s *sink) note(ctx context.Context, msg []byte) {
	id := delivery.MessageID(ctx)
	s.mu.Lock()
	if s.panics > 0 {
		s.panics--
		s.mu.Unlock()
		panic("sink: handler fails on purpose")
	}
	s.mu.Unlock()
	select {
	case s.entered <- id:
	default: // nobody watches this many
	}
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, handled{id: id, msg: string(msg), md: plexus.IncomingMetadata(ctx), ctxDone: ctx.Err() != nil})
	s.returned++
}

func (s *sink) snapshot() ([]handled, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]handled(nil), s.runs...), s.returned
}

func (s *sink) service() plugin.Service {
	return plugin.Service{Name: sinkName, Methods: []plugin.Method{
		{Name: "Note", Notify: s.note},
		{Name: "Echo", Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) { return plexus.Raw(req), nil }},
	}}
}

// pair links two sessions in-process: the receiving side serves snk's
// service and acknowledged delivery (delivery.Service, as a plugin lists
// it) configured by cfg; it returns the sending side.
func pair(t *testing.T, snk *sink, cfg delivery.ReceiverConfig) *session.Session {
	t.Helper()
	mux, err := plugin.NewMux(delivery.Service(cfg), snk.service())
	require.NoError(t, err)
	return pairMux(t, mux)
}

// pairMux links two sessions in-process, the receiving side serving mux.
func pairMux(t *testing.T, mux *session.Mux) *session.Session {
	t.Helper()
	a, b := inproc.Pipe(inproc.Config{})
	sender := session.New(a, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	receiver := session.New(b, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	t.Cleanup(func() {
		_ = sender.Close()
		_ = receiver.Close()
	})
	return sender
}

// deliverByHand makes a Deliver call as a Sender would, with the ID
// given: a resend, or a malformed call.
func deliverByHand(ctx context.Context, conn session.Conn, id string, method uint64, msg string) error {
	md := plexus.Metadata{delivery.MetadataID: id, delivery.MetadataMethod: strconv.FormatUint(method, 16)}
	return conn.Invoke(plexus.WithMetadata(ctx, md), delivery.DeliverMethod, plexus.Raw(msg), nil)
}

// testCtx bounds a test's waits.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitEntered waits for the handler to start running a message.
func waitEntered(t *testing.T, snk *sink) string {
	t.Helper()
	select {
	case id := <-snk.entered:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not run")
		return ""
	}
}
