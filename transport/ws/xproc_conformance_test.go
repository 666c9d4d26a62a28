//go:build unix

package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// linkTimeout bounds how long either process waits for the other to
// connect.
const linkTimeout = 20 * time.Second

var xprocConfig = ws.Config{MaxPayload: conformance.MaxPayload}

// The callees of the cross-process envs: a child process that links to the
// parent over a WebSocket on 127.0.0.1, dialing the parent's server or
// serving on a listener the parent bound, and serves the suite's services
// until the link ends. It shares nothing with the scenario body but the
// TCP connection.
func init() {
	xproc.Register("ws-conformance-dial", func() int {
		o, ok := calleeOptions()
		if !ok {
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), linkTimeout)
		tr, err := ws.Dial(ctx, xproc.Arg("URL"), ws.DialConfig{Config: xprocConfig})
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "callee: dial:", err)
			return 1
		}
		return serveCallee(tr, o)
	})
	xproc.Register("ws-conformance-serve", func() int {
		o, ok := calleeOptions()
		if !ok {
			return 2
		}
		f := xproc.File(0) // descriptor 3: the listener the parent bound
		ln, err := net.FileListener(f)
		_ = f.Close() // FileListener holds a duplicate
		if err != nil {
			fmt.Fprintln(os.Stderr, "callee: listener:", err)
			return 1
		}
		links := make(chan *ws.Transport, 1)
		srv := &http.Server{
			ReadHeaderTimeout: linkTimeout,
			Handler: ws.Handler(ws.HandlerConfig{Config: xprocConfig, Serve: func(_ context.Context, tr *ws.Transport) {
				select {
				case links <- tr:
				default: // one link per child
					_ = tr.Close()
				}
			}}),
		}
		go func() { _ = srv.Serve(ln) }()
		var tr *ws.Transport
		select {
		case tr = <-links:
		case <-time.After(linkTimeout):
			fmt.Fprintln(os.Stderr, "callee: nobody connected")
			return 1
		}
		_ = srv.Close() // stops listening; the hijacked link is no longer the server's
		return serveCallee(tr, o)
	})
}

func calleeOptions() (conformance.LinkOptions, bool) {
	var o conformance.LinkOptions
	if err := json.Unmarshal([]byte(xproc.Arg("OPTS")), &o); err != nil {
		fmt.Fprintln(os.Stderr, "callee: options:", err)
		return o, false
	}
	return o, true
}

func serveCallee(tr *ws.Transport, o conformance.LinkOptions) int {
	log := hclog.New(&hclog.LoggerOptions{Name: "callee", Level: hclog.Warn, Output: os.Stderr})
	c, err := conformance.Serve(tr, o, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "callee: serve:", err)
		return 1
	}
	<-c.Done()
	return 0
}

// childPeer controls a callee process. Killing it is SIGKILL: this side
// learns of it only through the TCP connection, as it would of a crash.
type childPeer struct {
	child  *xproc.Child
	killed atomic.Bool
}

func (p *childPeer) Kill() {
	p.killed.Store(true)
	_ = p.child.Kill()
}

func (p *childPeer) Wait(timeout time.Duration) error {
	err := p.child.Wait(timeout)
	if p.killed.Load() {
		return nil // a killed child exits by signal, as asked
	}
	return err
}

func marshalOptions(t *testing.T, o conformance.LinkOptions) string {
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// childDialsEnv: this process serves ws.Handler on 127.0.0.1 and the
// callee process dials it, so the scenario body drives the accepted end.
func childDialsEnv() conformance.Env {
	return conformance.Env{
		Name:       "ws-xproc-child-dials",
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			s := startServer(t, ws.HandlerConfig{Config: xprocConfig})
			child := xproc.Start(t, "ws-conformance-dial", nil, map[string]string{
				"OPTS": marshalOptions(t, o),
				"URL":  s.URL,
			})
			var tr *ws.Transport
			select {
			case tr = <-s.Links:
			case <-time.After(linkTimeout):
				_ = child.Kill()
				t.Fatal("the callee did not connect")
			}
			s.Close() // the link outlives the server, which the leak check would count
			t.Cleanup(func() { _ = tr.Close() })
			return tr, &childPeer{child: child}
		},
	}
}

// childServesEnv: this process binds a listener on 127.0.0.1 and hands it
// to the callee process, which serves ws.Handler on it; this process dials.
func childServesEnv() conformance.Env {
	return conformance.Env{
		Name:       "ws-xproc-child-serves",
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := ln.(*net.TCPListener).File()
			addr := ln.Addr().String()
			_ = ln.Close() // the child's duplicate keeps the socket listening
			if err != nil {
				t.Fatal(err)
			}
			child := xproc.Start(t, "ws-conformance-serve", []*os.File{f}, map[string]string{"OPTS": marshalOptions(t, o)})
			_ = f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), linkTimeout)
			defer cancel()
			tr, err := ws.Dial(ctx, "ws://"+addr, ws.DialConfig{Config: xprocConfig})
			if err != nil {
				_ = child.Kill()
				t.Fatalf("dial the callee: %v", err)
			}
			t.Cleanup(func() { _ = tr.Close() })
			return tr, &childPeer{child: child}
		},
	}
}

// TestCrossProcessConformance runs the whole session conformance suite over
// WebSockets between two processes on loopback TCP, with the callee process
// dialing and with it serving, each in both roles.
func TestCrossProcessConformance(t *testing.T) {
	conformance.Run(t, childDialsEnv(), childServesEnv())
}
