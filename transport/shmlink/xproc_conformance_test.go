//go:build linux

package shmlink

import (
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
)

// The callee of the cross-process conformance env: a child process that
// opens the inherited link and serves the suite's services until the link
// ends. It shares nothing with the scenario body but the link.
func init() {
	xproc.Register("shm-conformance-callee", func() int {
		var o conformance.LinkOptions
		if err := json.Unmarshal([]byte(xproc.Arg("OPTS")), &o); err != nil {
			fmt.Fprintln(os.Stderr, "callee: options:", err)
			return 2
		}
		tr, err := OpenInherited(3, shm.Config{Wait: 10 * time.Second}, Config{MaxPayload: conformance.MaxPayload})
		if err != nil {
			fmt.Fprintln(os.Stderr, "callee: open:", err)
			return 1
		}
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
// learns of it only through the control socket, as it would of a crash.
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

// crossProcessEnv runs each scenario's callee in a child process linked to
// this one by a real segment and control socket.
func crossProcessEnv() conformance.Env {
	return conformance.Env{
		Name:       "shm-xproc",
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			opts, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			link, err := NewLink(shm.Config{Wait: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			child := xproc.Start(t, "shm-conformance-callee", link.PluginFiles(), map[string]string{"OPTS": string(opts)})
			link.ClosePluginFiles()
			tr, err := link.Transport(Config{MaxPayload: conformance.MaxPayload})
			if err != nil {
				link.Close()
				t.Fatal(err)
			}
			return tr, &childPeer{child: child}
		},
	}
}

// TestCrossProcessConformance runs the whole session conformance suite over
// shared memory with the callee in another process, in both roles.
func TestCrossProcessConformance(t *testing.T) {
	conformance.Run(t, crossProcessEnv())
}
