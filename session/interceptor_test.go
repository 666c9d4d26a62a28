package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// events is the log that the recording interceptors of one test share.
type events struct {
	mu  sync.Mutex
	log []string
	end map[string]CallEnd // by "interceptor side"
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

func (e *events) lines(side Side) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, l := range e.log {
		if strings.HasSuffix(l, " "+side.String()) {
			out = append(out, strings.TrimSuffix(l, " "+side.String()))
		}
	}
	return out
}

func (e *events) ended(name string, side Side) (CallEnd, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ce, ok := e.end[name+" "+side.String()]
	return ce, ok
}

type ctxKey string

// recorder is an interceptor that logs its Start and End, adds metadata
// ("x-<name>") to the calls its side makes, puts a value in the context
// it returns, and refuses calls when told to.
type recorder struct {
	name   string
	ev     *events
	refuse map[Side]error
	infos  chan CallInfo
}

func (r *recorder) Start(ctx context.Context, info *CallInfo) (context.Context, error) {
	r.ev.add(r.name + ".start " + info.Side.String())
	if r.infos != nil {
		r.infos <- *info
	}
	if err := r.refuse[info.Side]; err != nil {
		return nil, err
	}
	if info.Side == Calling {
		md := plexus.Metadata{}
		for k, v := range plexus.OutgoingMetadata(ctx) {
			md[k] = v
		}
		md["x-"+r.name] = "1"
		ctx = plexus.WithMetadata(ctx, md)
	}
	return context.WithValue(ctx, ctxKey(r.name), r.name), nil
}

func (r *recorder) End(ctx context.Context, info *CallInfo, end *CallEnd) {
	if ctx.Value(ctxKey(r.name)) != r.name {
		r.ev.add(r.name + ".end-without-its-context " + info.Side.String())
	}
	r.ev.add(r.name + ".end " + info.Side.String())
	r.ev.mu.Lock()
	r.ev.end[r.name+" "+info.Side.String()] = *end
	r.ev.mu.Unlock()
}

// icptPair links two sessions over t (a pair of transports), each with
// interceptors a and b; the calling side knows the echo service's
// description (Config.Peer), the serving side's Mux has it described.
func icptPair(t *testing.T, ta, tb transport.Transport, mux *Mux, caller, server []Interceptor) *Session {
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	peer := []plexus.ServiceDesc{{Name: "test.Icpt", Methods: []plexus.MethodDesc{
		{Name: "Echo", Kind: plexus.Unary}, {Name: "Fail", Kind: plexus.Unary},
		{Name: "Count", Kind: plexus.ServerStream}, {Name: "Note", Kind: plexus.Notification}}}}
	c := New(ta, Config{Role: Initiator, Logger: log.Named("caller"), Interceptors: caller, Peer: peer})
	s := New(tb, Config{Role: Acceptor, Mux: mux, Logger: log.Named("server"), Interceptors: server})
	t.Cleanup(func() { c.Close(); s.Close() })
	return c
}

// icptMux serves test.Icpt: Echo (unary; it answers with the metadata
// and context values it sees), Fail (NOT_FOUND), Count (a server stream of
// n messages), Chat (bidi echo), Note (notification, signalled on noted).
func icptMux(t *testing.T, ran *sync.WaitGroup, noted chan<- string) *Mux {
	m := NewMux()
	_, err := m.HandleUnary("test.Icpt", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		md := plexus.IncomingMetadata(ctx)
		return plexus.Raw(fmt.Sprintf("%s|a=%s b=%s|%v %v", req, md["x-a"], md["x-b"], ctx.Value(ctxKey("a")), ctx.Value(ctxKey("b")))), nil
	})
	require.NoError(t, err)
	_, err = m.HandleUnary("test.Icpt", "Fail", func(context.Context, []byte) (plexus.Marshaler, error) {
		if ran != nil {
			ran.Done()
		}
		return nil, plexus.Errorf(plexus.NotFound, "no such thing")
	})
	require.NoError(t, err)
	_, err = m.HandleStream("test.Icpt", "Count", func(ctx context.Context, st *Stream) error {
		var n plexus.Raw
		if err := st.Recv(&n); err != nil {
			return err
		}
		for i := range len(n) {
			if err := st.Send(plexus.Raw(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	_, err = m.HandleStream("test.Icpt", "Chat", func(ctx context.Context, st *Stream) error {
		for range 100 {
			var msg plexus.Raw
			if err := st.Recv(&msg); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := st.Send(msg); err != nil {
				return err
			}
		}
		return plexus.Errorf(plexus.ResourceExhausted, "chat too long")
	})
	require.NoError(t, err)
	_, err = m.HandleNotify("test.Icpt", "Note", func(ctx context.Context, msg []byte) {
		noted <- string(msg) + "|" + plexus.IncomingMetadata(ctx)["x-a"]
	})
	require.NoError(t, err)
	require.NoError(t, m.Describe(plexus.ServiceDesc{Name: "test.Icpt", Methods: []plexus.MethodDesc{
		{Name: "Count", Kind: plexus.ServerStream}}}))
	return m
}

func inprocPair() (transport.Transport, transport.Transport) {
	a, b := inproc.Pipe(inproc.Config{})
	return a, b
}

// chains returns interceptors a and b for each side, on one log.
func chains(ev *events) (caller, server []Interceptor) {
	return []Interceptor{&recorder{name: "a", ev: ev}, &recorder{name: "b", ev: ev}},
		[]Interceptor{&recorder{name: "a", ev: ev}, &recorder{name: "b", ev: ev}}
}

func newEvents() *events { return &events{end: map[string]CallEnd{}} }

// waitEnded waits for the serving side's outermost End, which runs after
// the caller may have returned.
func waitEnded(t *testing.T, ev *events, side Side) CallEnd {
	t.Helper()
	var ce CallEnd
	require.Eventually(t, func() bool {
		var ok bool
		ce, ok = ev.ended("a", side)
		return ok
	}, 5*time.Second, time.Millisecond)
	return ce
}

// TestInterceptorsUnary: the chain's order on both sides, metadata added
// by the caller's interceptors reaching the handler, the serving
// interceptors' context reaching it, names and kinds, and the byte counts
// of each side agreeing with the other's.
func TestInterceptorsUnary(t *testing.T) {
	ev := newEvents()
	caller, server := chains(ev)
	infos := make(chan CallInfo, 4)
	caller[0].(*recorder).infos, server[0].(*recorder).infos = infos, infos
	ta, tb := inprocPair()
	c := icptPair(t, ta, tb, icptMux(t, nil, nil), caller, server)
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), plexus.MethodID("test.Icpt", "Echo"), plexus.Raw("hi"), &resp))
	require.Equal(t, "hi|a=1 b=1|a b", string(resp))
	serverEnd := waitEnded(t, ev, Serving)
	order := []string{"a.start", "b.start", "b.end", "a.end"}
	require.Equal(t, order, ev.lines(Calling))
	require.Equal(t, order, ev.lines(Serving))
	callerEnd, _ := ev.ended("a", Calling)
	require.Nil(t, callerEnd.Status)
	require.Nil(t, serverEnd.Status)
	require.Positive(t, callerEnd.Sent)
	require.Equal(t, callerEnd.Sent, serverEnd.Received, "what the caller sent is what the server received")
	require.Equal(t, serverEnd.Sent, callerEnd.Received)
	require.GreaterOrEqual(t, callerEnd.Received, int64(len(resp)))
	id := plexus.MethodID("test.Icpt", "Echo")
	require.Equal(t, CallInfo{Method: id, Name: "test.Icpt.Echo", Kind: plexus.Unary, Side: Calling}, <-infos)
	require.Equal(t, CallInfo{Method: id, Name: "test.Icpt.Echo", Kind: plexus.Unary, Side: Serving}, <-infos)
}

// TestInterceptorsStatus: a handler's error status is what both sides'
// End see.
func TestInterceptorsStatus(t *testing.T) {
	ev := newEvents()
	caller, server := chains(ev)
	ta, tb := inprocPair()
	c := icptPair(t, ta, tb, icptMux(t, nil, nil), caller, server)
	err := c.Invoke(context.Background(), plexus.MethodID("test.Icpt", "Fail"), plexus.Raw("x"), nil)
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.NotFound}), "%v", err)
	se := waitEnded(t, ev, Serving)
	ce, _ := ev.ended("a", Calling)
	require.Equal(t, plexus.NotFound, ce.Status.Code)
	require.Equal(t, plexus.NotFound, se.Status.Code)
}

// TestInterceptorsRefuse: a calling interceptor's refusal keeps the call
// from leaving (the peer sees nothing) and ends the interceptors that had
// started, in reverse order; a serving interceptor's refusal reaches the
// caller as its status, and the handler does not run.
func TestInterceptorsRefuse(t *testing.T) {
	fail := plexus.MethodID("test.Icpt", "Fail")
	t.Run("calling", func(t *testing.T) {
		ev := newEvents()
		caller, server := chains(ev)
		caller[1].(*recorder).refuse = map[Side]error{Calling: plexus.Errorf(plexus.PermissionDenied, "not you")}
		var ran sync.WaitGroup
		ta, tb := inprocPair()
		c := icptPair(t, ta, tb, icptMux(t, &ran, nil), caller, server)
		err := c.Invoke(context.Background(), fail, plexus.Raw("x"), nil)
		require.True(t, errors.Is(err, &plexus.Status{Code: plexus.PermissionDenied}), "%v", err)
		require.Equal(t, []string{"a.start", "b.start", "a.end"}, ev.lines(Calling))
		ce, _ := ev.ended("a", Calling)
		require.Equal(t, plexus.PermissionDenied, ce.Status.Code)
		require.Zero(t, ce.Sent, "nothing was sent")
		// The link still works, and the peer saw no call before this one.
		caller[1].(*recorder).refuse = nil
		ran.Add(1)
		require.Error(t, c.Invoke(context.Background(), fail, plexus.Raw("x"), nil))
		ran.Wait()
		waitEnded(t, ev, Serving)
		require.Equal(t, []string{"a.start", "b.start", "b.end", "a.end"}, ev.lines(Serving))
	})
	t.Run("serving", func(t *testing.T) {
		ev := newEvents()
		caller, server := chains(ev)
		server[0].(*recorder).refuse = map[Side]error{Serving: errors.New("plain error")}
		ta, tb := inprocPair()
		c := icptPair(t, ta, tb, icptMux(t, nil, nil), caller, server)
		var resp plexus.Raw
		err := c.Invoke(context.Background(), plexus.MethodID("test.Icpt", "Echo"), plexus.Raw("x"), &resp)
		require.True(t, errors.Is(err, &plexus.Status{Code: plexus.Unknown}), "%v", err)
		require.ErrorContains(t, err, "plain error")
		require.Equal(t, []string{"a.start"}, ev.lines(Serving), "a refused: b never started and the handler never ran")
		require.Equal(t, []string{"a.start", "b.start", "b.end", "a.end"}, ev.lines(Calling))
		ce, _ := ev.ended("a", Calling)
		require.Equal(t, plexus.Unknown, ce.Status.Code)
	})
}

// TestInterceptorsStreams: a server stream and a bidirectional stream end
// once on each side, with their kinds and balanced byte counts; a stream
// the caller closes ends CANCELED on the calling side.
func TestInterceptorsStreams(t *testing.T) {
	ev := newEvents()
	caller, server := chains(ev)
	infos := make(chan CallInfo, 16)
	caller[1].(*recorder).infos, server[1].(*recorder).infos = infos, infos
	ta, tb := inprocPair()
	c := icptPair(t, ta, tb, icptMux(t, nil, nil), caller, server)
	ctx := context.Background()

	st, err := c.NewStream(ctx, plexus.MethodID("test.Icpt", "Count"), plexus.Raw("12345"), true)
	require.NoError(t, err)
	n := 0
	for {
		var m plexus.Raw
		if err := st.Recv(&m); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		n++
	}
	require.Equal(t, 5, n)
	se := waitEnded(t, ev, Serving)
	ce, _ := ev.ended("a", Calling)
	require.Nil(t, ce.Status)
	require.Nil(t, se.Status)
	require.Equal(t, ce.Sent, se.Received)
	require.Equal(t, se.Sent, ce.Received)
	require.Equal(t, plexus.ServerStream, (<-infos).Kind)
	require.Equal(t, plexus.ServerStream, (<-infos).Kind, "described on the serving side")

	ev2 := newEvents()
	caller2, server2 := chains(ev2)
	ta, tb = inprocPair()
	c2 := icptPair(t, ta, tb, icptMux(t, nil, nil), caller2, server2)
	chat, err := c2.NewStream(ctx, plexus.MethodID("test.Icpt", "Chat"), nil, false)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, chat.Send(plexus.Raw(strings.Repeat("x", 100*(i+1)))))
		var m plexus.Raw
		require.NoError(t, chat.Recv(&m))
	}
	require.NoError(t, chat.CloseSend())
	require.Equal(t, io.EOF, chat.Recv(new(plexus.Raw)))
	se = waitEnded(t, ev2, Serving)
	ce, _ = ev2.ended("a", Calling)
	require.Nil(t, ce.Status)
	require.GreaterOrEqual(t, ce.Sent, int64(600))
	require.Equal(t, ce.Sent, se.Received)
	require.Equal(t, se.Sent, ce.Received)
	require.Equal(t, []string{"a.start", "b.start", "b.end", "a.end"}, ev2.lines(Calling))

	ev3 := newEvents()
	caller3, server3 := chains(ev3)
	ta, tb = inprocPair()
	c3 := icptPair(t, ta, tb, icptMux(t, nil, nil), caller3, server3)
	chat, err = c3.NewStream(ctx, plexus.MethodID("test.Icpt", "Chat"), nil, false)
	require.NoError(t, err)
	require.NoError(t, chat.Send(plexus.Raw("x")))
	chat.Close()
	chat.Close() // ends once
	ce, _ = ev3.ended("a", Calling)
	require.Equal(t, plexus.Canceled, ce.Status.Code)
	se = waitEnded(t, ev3, Serving)
	require.NotNil(t, se.Status, "the handler saw its call cancelled")
	require.Equal(t, []string{"a.start", "b.start", "b.end", "a.end"}, ev3.lines(Calling))
}

// TestInterceptorsNotify: a notification is intercepted on both sides,
// with the caller's metadata reaching the handler.
func TestInterceptorsNotify(t *testing.T) {
	ev := newEvents()
	caller, server := chains(ev)
	noted := make(chan string, 1)
	ta, tb := inprocPair()
	c := icptPair(t, ta, tb, icptMux(t, nil, noted), caller, server)
	require.NoError(t, c.Notify(context.Background(), plexus.MethodID("test.Icpt", "Note"), plexus.Raw("note")))
	require.Equal(t, "note|1", <-noted)
	se := waitEnded(t, ev, Serving)
	ce, _ := ev.ended("a", Calling)
	require.Nil(t, ce.Status)
	require.Nil(t, se.Status)
	require.Equal(t, ce.Sent, se.Received)
	require.Positive(t, ce.Sent)
	require.Equal(t, []string{"a.start", "b.start", "b.end", "a.end"}, ev.lines(Serving))
}
