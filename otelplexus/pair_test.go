package otelplexus

import (
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// The in-process tests' service, otest.Echo: Echo answers with the
// metadata it received ("k=v;..." sorted), Fail fails with NOT_FOUND,
// Ping answers "pong" (the benchmark's call), and Hidden, which the
// caller's Config.Peer leaves out, answers "hidden".
const echoService = "otest.Echo"

var (
	echoID   = plexus.MethodID(echoService, "Echo")
	failID   = plexus.MethodID(echoService, "Fail")
	pingID   = plexus.MethodID(echoService, "Ping")
	hiddenID = plexus.MethodID(echoService, "Hidden")
)

func echoMux(t testing.TB) *session.Mux {
	m := session.NewMux()
	_, err := m.HandleUnary(echoService, "Echo", func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
		var kv []string
		for k, v := range plexus.IncomingMetadata(ctx) {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		return plexus.Raw(strings.Join(kv, ";")), nil
	})
	require.NoError(t, err)
	_, err = m.HandleUnary(echoService, "Fail", func(context.Context, []byte) (plexus.Marshaler, error) {
		return nil, plexus.Errorf(plexus.NotFound, "no such thing")
	})
	require.NoError(t, err)
	_, err = m.HandleUnary(echoService, "Ping", func(context.Context, []byte) (plexus.Marshaler, error) {
		return plexus.Raw("pong"), nil
	})
	require.NoError(t, err)
	_, err = m.HandleUnary(echoService, "Hidden", func(context.Context, []byte) (plexus.Marshaler, error) {
		return plexus.Raw("hidden"), nil
	})
	require.NoError(t, err)
	return m
}

// pair links a calling session and a serving one (otest.Echo) over a and
// b, with these interceptors; the caller knows the names of all methods
// but Hidden (Config.Peer). Both end with the test.
func pair(t testing.TB, a, b transport.Transport, caller, server []session.Interceptor) *session.Session {
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: io.Discard})
	peer := []plexus.ServiceDesc{{Name: echoService, Methods: []plexus.MethodDesc{
		{Name: "Echo", Kind: plexus.Unary}, {Name: "Fail", Kind: plexus.Unary}, {Name: "Ping", Kind: plexus.Unary}}}}
	c := session.New(a, session.Config{Role: session.Initiator, Logger: log, Interceptors: caller, Peer: peer})
	s := session.New(b, session.Config{Role: session.Acceptor, Mux: echoMux(t), Logger: log, Interceptors: server})
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return c
}

// inprocPair is pair over an in-process pipe.
func inprocPair(t testing.TB, caller, server []session.Interceptor) *session.Session {
	a, b := inproc.Pipe(inproc.Config{})
	return pair(t, a, b, caller, server)
}

// ends is an interceptor that keeps what each call's End was given, by
// side, for the tests to compare the metrics with.
type ends struct {
	mu  sync.Mutex
	got map[session.Side][]session.CallEnd
}

func newEnds() *ends { return &ends{got: map[session.Side][]session.CallEnd{}} }

func (e *ends) Start(ctx context.Context, _ *session.CallInfo) (context.Context, error) {
	return ctx, nil
}

func (e *ends) End(_ context.Context, info *session.CallInfo, end *session.CallEnd) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got[info.Side] = append(e.got[info.Side], *end)
}

// side returns the Ends seen on side so far.
func (e *ends) side(s session.Side) []session.CallEnd {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]session.CallEnd(nil), e.got[s]...)
}
