package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
)

// MaxPayload is the frame payload limit the standard environments configure
// on both ends. It is far below the transports' defaults so that the
// near-maximum and oversize scenarios stay fast under the race detector.
const MaxPayload = 4 << 20

// LinkOptions is what a scenario needs from the link it runs on. Every
// field is a plain value (it survives encoding/json), so that an Env whose
// callee runs in another process can hand the options to that process.
type LinkOptions struct {
	// CallerRole is the role of the side the scenario body drives:
	// session.Initiator for "host calls plugin", session.Acceptor for
	// "plugin calls host". The callee takes the other role.
	CallerRole session.Role
	// KeepaliveIdle and KeepaliveTimeout configure keepalive on both
	// sessions. Zero leaves the session defaults.
	KeepaliveIdle    time.Duration
	KeepaliveTimeout time.Duration
	// Raw asks for a raw peer instead of a callee session: it reads frames
	// and, on the first OPEN, answers with a DATA frame for a channel that
	// was never opened (the protocol-violation scenario).
	Raw bool
}

// CalleeRole is the role the callee end takes.
func (o LinkOptions) CalleeRole() session.Role {
	if o.CallerRole == session.Acceptor {
		return session.Initiator
	}
	return session.Acceptor
}

// SessionConfig returns the session configuration for one end of the link.
// Both ends use the same keepalive settings.
func (o LinkOptions) SessionConfig(role session.Role, mux *session.Mux, log hclog.Logger) session.Config {
	cfg := session.Config{Role: role, Mux: mux, Logger: log}
	if o.KeepaliveIdle != 0 {
		cfg.KeepaliveIdle = o.KeepaliveIdle
		cfg.KeepaliveTimeout = o.KeepaliveTimeout
	}
	return cfg
}

// Env is one transport under test.
type Env struct {
	// Name names the env in subtest names (TestX/<scenario>/<Name>/<role>).
	Name string
	// MaxPayload is the frame payload limit both ends are configured with;
	// the large-payload and oversize scenarios size their messages from it.
	MaxPayload int
	// Link creates a new link for one subtest: it returns the caller's end
	// of the transport, which the suite wraps into a session, and control
	// of the callee end, which the env has started with Serve (in this
	// process or in another one). The env registers its own cleanup with
	// t; the suite closes the caller's session and then waits for the
	// callee to end.
	Link func(t *testing.T, o LinkOptions) (caller transport.Transport, peer PeerControl)
}

// PeerControl is what the scenario body may do to the callee end other
// than calling it: everything else goes through RPCs, so that the callee
// can live in another process.
type PeerControl interface {
	// Kill ends the callee abruptly, as a crash would: its end of the
	// transport is closed at once, without GOAWAY or final statuses.
	// For a child process this is SIGKILL. Kill is idempotent.
	Kill()
	// Wait waits up to timeout for the callee to end (its session has
	// finished, or its process has exited) and reports an error if it did
	// not, or if it ended abnormally in a way the env can detect.
	Wait(timeout time.Duration) error
}

// Callee is the callee end of a link run by Serve. It implements
// PeerControl for in-process envs.
type Callee struct {
	tr   transport.Transport
	sess *session.Session // nil for a raw peer
	svc  *Services        // nil for a raw peer
	done <-chan struct{}
}

// Serve starts the callee end over tr: a session in o.CalleeRole() serving
// the suite's services (or, with o.Raw, the raw peer). This is all a callee
// process has to run; it shares nothing with the scenario body but the
// link. The Callee owns tr.
func Serve(tr transport.Transport, o LinkOptions, log hclog.Logger) (*Callee, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if o.Raw {
		done := make(chan struct{})
		go func() {
			defer close(done)
			rawPeer(tr, o.CalleeRole())
		}()
		return &Callee{tr: tr, done: done}, nil
	}
	mux := session.NewMux()
	svc, err := RegisterServices(mux)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	s := session.New(tr, o.SessionConfig(o.CalleeRole(), mux, log))
	svc.Bind(s)
	return &Callee{tr: tr, sess: s, svc: svc, done: s.Done()}, nil
}

// Session is the callee's session (nil for a raw peer).
func (c *Callee) Session() *session.Session { return c.sess }

// Done is closed when the callee has ended.
func (c *Callee) Done() <-chan struct{} { return c.done }

// Kill closes the callee's transport under its session, as a crash closes
// the process's end of the link: nothing more is sent.
func (c *Callee) Kill() { _ = c.tr.Close() }

// Wait waits up to timeout for the callee to end.
func (c *Callee) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-t.C:
		return fmt.Errorf("callee has not ended within %v", timeout)
	}
}

// InProcess builds an Env whose callee runs in this process (Serve) over
// one end of the transports pair returns; the other end goes to the caller.
// pair must configure both ends with maxPayload.
func InProcess(name string, maxPayload int, pair func(t *testing.T, maxPayload int) (caller, callee transport.Transport)) Env {
	return Env{
		Name:       name,
		MaxPayload: maxPayload,
		Link: func(t *testing.T, o LinkOptions) (transport.Transport, PeerControl) {
			a, b := pair(t, maxPayload)
			c, err := Serve(b, o, testLogger(t, "callee"))
			if err != nil {
				_ = a.Close()
				t.Fatalf("conformance: starting the callee: %v", err)
			}
			t.Cleanup(c.Kill)
			return a, c
		},
	}
}

// Inproc is the in-process pipe (transport/inproc).
func Inproc() Env {
	return InProcess("inproc", MaxPayload, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		a, b := inproc.Pipe(inproc.Config{MaxPayload: max})
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		return a, b
	})
}

// SocketPair is the stream transport over an AF_UNIX socketpair.
func SocketPair() Env {
	return InProcess("socketpair", MaxPayload, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		a, b, err := stream.Pair(stream.Config{MaxPayload: max})
		if err != nil {
			t.Fatalf("conformance: socketpair: %v", err)
		}
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		return a, b
	})
}

// Unix is the stream transport over a Unix socket listening in
// t.TempDir(): the callee is the accepted end, the caller dials.
func Unix() Env {
	return InProcess("unix", MaxPayload, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		return viaListener(t, "unix", filepath.Join(t.TempDir(), "s"), max)
	})
}

// TCP is the stream transport over TCP on 127.0.0.1.
func TCP() Env {
	return InProcess("tcp", MaxPayload, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		return viaListener(t, "tcp", "127.0.0.1:0", max)
	})
}

// StandardEnvs are the four in-process envs: inproc, socketpair, unix, tcp.
func StandardEnvs() []Env { return []Env{Inproc(), SocketPair(), Unix(), TCP()} }

// viaListener dials a listener and accepts the one link, then closes the
// listener: a scenario needs only the pair.
func viaListener(t *testing.T, network, addr string, max int) (caller, callee transport.Transport) {
	t.Helper()
	cfg := stream.Config{MaxPayload: max}
	ln, err := streamnet.Listen(network, addr, cfg)
	if err != nil {
		t.Fatalf("conformance: listen %s %s: %v", network, addr, err)
	}
	defer ln.Close()
	type accepted struct {
		tr  *stream.Transport
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		tr, err := ln.Accept()
		acc <- accepted{tr, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialed, err := streamnet.Dial(ctx, network, ln.Addr().String(), cfg)
	if err != nil {
		_ = ln.Close() // ends Accept
		<-acc
		t.Fatalf("conformance: dial %s %s: %v", network, ln.Addr(), err)
	}
	var a accepted
	select {
	case a = <-acc:
	case <-time.After(10 * time.Second):
		_ = ln.Close()
		a = <-acc
	}
	if a.err != nil {
		_ = dialed.Close()
		t.Fatalf("conformance: accept on %s: %v", ln.Addr(), a.err)
	}
	t.Cleanup(func() { _ = dialed.Close(); _ = a.tr.Close() })
	return dialed, a.tr
}

// testLogger logs warnings and errors through t until the test ends; after
// that (a goroutine outliving a failed test) it drops them, because
// t.Log after the test has completed panics.
func testLogger(t *testing.T, name string) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: w})
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
