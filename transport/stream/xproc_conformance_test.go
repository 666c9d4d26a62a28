//go:build unix

package stream_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// TestMain lets this test binary be its own callee: a child started by
// xproc runs the helper it names and exits instead of running the tests.
func TestMain(m *testing.M) {
	xproc.Main()
	os.Exit(m.Run())
}

// The callee of the cross-process conformance env: a child process that
// opens the inherited stream socket and serves the suite's services until
// the link ends. It shares nothing with the scenario body but the socket.
func init() {
	xproc.Register("stream-conformance-callee", func() int {
		var o conformance.LinkOptions
		if err := json.Unmarshal([]byte(xproc.Arg("OPTS")), &o); err != nil {
			fmt.Fprintln(os.Stderr, "callee: options:", err)
			return 2
		}
		f := xproc.File(0) // descriptor 3
		conn, err := net.FileConn(f)
		_ = f.Close() // FileConn holds a duplicate
		if err != nil {
			fmt.Fprintln(os.Stderr, "callee: open:", err)
			return 1
		}
		tr := stream.New(conn, stream.Config{MaxPayload: conformance.MaxPayload})
		log := hclog.New(&hclog.LoggerOptions{Name: "callee", Level: hclog.Warn, Output: os.Stderr})
		c, err := conformance.Serve(tr, o, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "callee: serve:", err)
			return 1
		}
		<-c.Done()
		return 0
	})
}

// childPeer controls a callee process. Killing it is SIGKILL: the host
// learns of it only through the socket, as it would of a crash.
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

// streamSocketPair returns the two ends of an AF_UNIX stream socketpair,
// both close-on-exec: the caller's as a stream.Conn, the callee's as the
// *os.File that xproc.Start hands to the child (where it is descriptor 3,
// no longer close-on-exec).
func streamSocketPair(t *testing.T) (stream.Conn, *os.File) {
	t.Helper()
	conn, theirs, err := stream.ChildPair()
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return conn, theirs
}

// crossProcessEnv runs each scenario's callee in a child process linked to
// this one by a real AF_UNIX stream socket.
func crossProcessEnv() conformance.Env {
	return conformance.Env{
		Name:       "stream-xproc",
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			opts, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			conn, theirs := streamSocketPair(t)
			tr := stream.New(conn, stream.Config{MaxPayload: conformance.MaxPayload})
			t.Cleanup(func() { _ = tr.Close(); _ = theirs.Close() })
			child := xproc.Start(t, "stream-conformance-callee", []*os.File{theirs}, map[string]string{"OPTS": string(opts)})
			_ = theirs.Close() // the child has its own copy
			return tr, &childPeer{child: child}
		},
	}
}

// TestCrossProcessConformance runs the whole session conformance suite over
// the stream transport with the callee in another process, in both roles.
func TestCrossProcessConformance(t *testing.T) {
	conformance.Run(t, crossProcessEnv())
}
