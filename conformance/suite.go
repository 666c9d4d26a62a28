package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Role is which end of the link the scenario body drives.
type Role struct {
	Name   string
	Caller session.Role
}

// Roles: every scenario runs once with the host (initiator) calling the
// plugin and once the other way round, since the two ends differ in channel
// parity and in who opened the link.
var Roles = []Role{
	{Name: "host-calls-plugin", Caller: session.Initiator},
	{Name: "plugin-calls-host", Caller: session.Acceptor},
}

// Bounds of the harness itself; scenarios have their own, tighter ones.
const (
	// watchdogAfter closes the link of a scenario that hangs, so that
	// its blocked calls fail instead of the test binary timing out.
	watchdogAfter = 150 * time.Second
	// calleeEndTimeout bounds how long the callee may take to notice that
	// the caller closed the link.
	calleeEndTimeout = 10 * time.Second
	// leakTimeout bounds how long goroutines may take to exit after both
	// ends closed.
	leakTimeout = 2 * time.Second
)

type scenario struct {
	name string
	opts LinkOptions // CallerRole is set per role
	run  func(t *testing.T, l *link)
}

// ScenarioNames lists the scenarios in the order Run runs them.
func ScenarioNames() []string {
	var names []string
	for _, sc := range scenarios() {
		names = append(names, sc.name)
	}
	return names
}

// Run runs every scenario against every env in both roles, as subtests
// named <scenario>/<env>/<role>, one fresh link each. Subtests run one at a
// time: the goroutine-leak check counts the whole process's goroutines.
func Run(t *testing.T, envs ...Env) { RunApplicable(t, nil, envs...) }

func runScenario(t *testing.T, env Env, r Role, sc scenario) {
	baseline := runtime.NumGoroutine()
	o := sc.opts
	o.CallerRole = r.Caller
	l := newLink(t, env, o)
	dog := time.AfterFunc(watchdogAfter, func() {
		t.Errorf("watchdog: scenario still running after %v; closing the link", watchdogAfter)
		_ = l.Caller.Close()
		l.Peer.Kill()
	})
	// Deferred so that it runs after a FailNow too: the link must be torn
	// down before the next subtest measures its baseline.
	defer func() {
		dog.Stop()
		l.shutdown(t)
		if !t.Failed() {
			checkGoroutines(t, baseline)
		}
	}()
	sc.run(t, l)
}

// link is a scenario body's view of one link.
type link struct {
	env    Env
	Caller *session.Session // the end the body drives
	Local  *Services        // the caller's own services (the callee calls them)
	Wire   *Blackhole       // the caller's transport
	Peer   PeerControl
	remote ctl // control RPCs to the callee
	local  ctl // the same operations on Local
}

func newLink(t *testing.T, env Env, o LinkOptions) *link {
	tr, peer := env.Link(t, o)
	wire := NewBlackhole(tr)
	mux := session.NewMux()
	svc, err := RegisterServices(mux)
	if err != nil {
		_ = wire.Close()
		peer.Kill()
		t.Fatalf("conformance: registering the caller's services: %v", err)
	}
	s := session.New(wire, o.SessionConfig(o.CallerRole, mux, testLogger(t, "caller")))
	svc.Bind(s)
	t.Cleanup(func() { _ = s.Close() })
	return &link{
		env:    env,
		Caller: s, Local: svc, Wire: wire, Peer: peer,
		remote: ctl{t: t, do: rpcDo(s)},
		local: ctl{t: t, do: func(ctx context.Context, c Command) (Reply, error) {
			return svc.Do(ctx, c), nil
		}},
	}
}

// shutdown closes the caller's end and checks that the callee notices.
func (l *link) shutdown(t *testing.T) {
	_ = l.Caller.Close()
	if err := l.Peer.Wait(calleeEndTimeout); err != nil {
		t.Errorf("conformance: %v", err)
	}
	l.Peer.Kill()
}

// checkGoroutines waits, boundedly, for the goroutine count to come back
// to what it was before the scenario, and dumps every goroutine if not.
func checkGoroutines(t *testing.T, baseline int) {
	deadline := time.Now().Add(leakTimeout)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Errorf("goroutine leak: %d goroutines %v after both ends closed, %d before the scenario:\n%s",
				n, leakTimeout, baseline, buf.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctl runs control Commands on one end: through RPCs on the callee,
// directly on the caller's own Services, or through a Script stream. Its
// methods fail the test on any error, so they are for the test goroutine.
type ctl struct {
	t  *testing.T
	do func(ctx context.Context, c Command) (Reply, error)
}

func rpcDo(s *session.Session) func(ctx context.Context, c Command) (Reply, error) {
	return func(ctx context.Context, c Command) (Reply, error) {
		var resp plexus.Raw
		if err := s.Invoke(ctx, MethodDo, jsonMsg(c), &resp); err != nil {
			return Reply{}, err
		}
		var r Reply
		err := json.Unmarshal(resp, &r)
		return r, err
	}
}

// scriptDo runs commands over a Script stream, one at a time.
func scriptDo(st *session.Stream) func(ctx context.Context, c Command) (Reply, error) {
	return func(ctx context.Context, c Command) (Reply, error) {
		if err := st.Send(jsonMsg(c)); err != nil {
			return Reply{}, err
		}
		var resp plexus.Raw
		if err := st.Recv(&resp); err != nil {
			return Reply{}, err
		}
		var r Reply
		err := json.Unmarshal(resp, &r)
		return r, err
	}
}

func (c ctl) cmd(cmd Command) Reply {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout+10*time.Second)
	defer cancel()
	r, err := c.do(ctx, cmd)
	require.NoError(c.t, err, "control %s %q", cmd.Op, cmd.Key)
	require.Empty(c.t, r.Err, "control %s %q", cmd.Op, cmd.Key)
	return r
}

func (c ctl) counter(key string) int64 {
	c.t.Helper()
	return c.cmd(Command{Op: "counter", Key: key}).Value
}

// wait waits (boundedly) until counter key reaches min.
func (c ctl) wait(key string, min int64) int64 {
	c.t.Helper()
	return c.cmd(Command{Op: "wait", Key: key, Min: min}).Value
}

func (c ctl) release(key string) {
	c.t.Helper()
	c.cmd(Command{Op: "release", Key: key})
}

func (c ctl) deadline(key string) Reply {
	c.t.Helper()
	return c.cmd(Command{Op: "deadline", Key: key})
}

// waitStable polls counter key until it is positive and has not moved for
// several polls in a row (a sender stalled on flow control rather than one
// the scheduler merely left idle for a moment), within a bound.
func (c ctl) waitStable(key string) int64 {
	c.t.Helper()
	const period = 100 * time.Millisecond
	const polls = 3
	prev, same := c.wait(key, 1), 0
	for range 200 {
		time.Sleep(period)
		v := c.counter(key)
		if v != prev {
			prev, same = v, 0
			continue
		}
		if same++; same == polls {
			return v
		}
	}
	c.t.Fatalf("counter %q never stopped moving (last %d)", key, prev)
	return 0
}

// Helpers shared by scenarios.

func jsonMsg(v any) plexus.Raw {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the suite's own types are encoded
	}
	return b
}

// callCtx is a context for a scenario's calls: long enough never to matter
// on a slow machine, short enough that a hang fails the test.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// within waits up to d for a value from ch.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing after %v", what, d)
		var zero T
		return zero
	}
}

// async runs fn on its own goroutine and returns a channel with its result.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func requireBytes(t *testing.T, want, got []byte, what string) {
	t.Helper()
	if !bytes.Equal(want, got) {
		i := 0
		for i < len(want) && i < len(got) && want[i] == got[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	}
}

// requireCode checks err's status code and, if sub is not empty, that the
// message contains it.
func requireCode(t *testing.T, err error, code plexus.Code, sub string) {
	t.Helper()
	require.Error(t, err, "want %v", code)
	require.Equal(t, code, plexus.CodeOf(err), "error %v", err)
	require.ErrorIs(t, err, &plexus.Status{Code: code})
	if sub != "" {
		require.ErrorContains(t, err, sub)
	}
}

func echoOK(t *testing.T, s *session.Session, what string) {
	t.Helper()
	req := plexus.Raw(fmt.Sprintf("still alive after %s", what))
	var resp plexus.Raw
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Invoke(ctx, MethodEcho, req, &resp), "link after %s", what)
	require.Equal(t, string(req), string(resp))
}
