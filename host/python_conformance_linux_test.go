package host_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// The session conformance suite against the Python plugin
// (python/testdata/conformance_plugin.py, which serves the suite's Test
// and Control services) over shared memory.
//
// The suite drives the caller's end of a raw transport and wraps it in a
// session of its own (conformance.Env), so this env does what the host
// package does up to the session: it creates the link, starts the Python
// process with PLEXUS_PLUGIN and the inherited descriptors, runs the
// host's side of the handshake (checking that the plugin announces the
// services exactly as a Go plugin serving conformance.RegisterServices
// would), and hands the host's transport to the suite.

// pyConfCookie is the conformance plugin's cookie.
const pyConfCookie = "plexus-conformance"

// pyConfNotApplicable: what cannot run against a plugin process, with the
// reason. Every scenario runs in the host-calls-plugin role.
var pyConfNotApplicable = map[string]string{
	// The scenario body would be the acceptor and the callee the
	// initiator: the Python process would have to open the link as a host
	// does, and a plugin never does. The plugin-to-host direction is
	// exercised from the other role all the same: Deadline (the plugin's
	// nested calls to the host, their deadlines and cancellation),
	// GoAwayDrain (the plugin's call in flight, and its new call refused,
	// during the host's drain) and PeerClose (the plugin closing the link
	// with calls in flight).
	conformance.Roles[1].Name: "a plugin is always the acceptor of the host's link; the Python " +
		"process cannot be the initiator this role's callee is",
}

// TestPythonConformance runs every conformance scenario that applies to a
// plugin against the Python plugin process, from the Go host's side.
func TestPythonConformance(t *testing.T) {
	needPython(t)
	if conformance.Roles[1].Caller != session.Acceptor {
		t.Fatalf("conformance.Roles[1] is %q, not the plugin-calls-host role", conformance.Roles[1].Name)
	}
	conformance.RunApplicable(t, pyConfNotApplicable, pyConfEnv(t))
}

// pyConfEnv is the env whose callee is a Python plugin process.
func pyConfEnv(t *testing.T) conformance.Env {
	script := filepath.Join(pythonDir(t), "testdata", "conformance_plugin.py")
	return conformance.Env{
		Name:       "python-shm",
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			return pyConfLink(t, script, o)
		},
	}
}

func pyConfLink(t *testing.T, script string, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
	if o.CallerRole != session.Initiator {
		t.Fatalf("the Python plugin can only be the callee of the host-calls-plugin role")
	}
	opts, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	link, err := shmlink.NewLink(shm.Config{Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	versions := []uint32{1}
	env := handshake.Env{FirstFD: 3, LastFD: 3 + shmlink.FileCount - 1,
		MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Versions: versions, HostPID: os.Getpid()}
	cmd := exec.Command(pythonExe, script)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, handshake.EnvName+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PLEXUS_CONFORMANCE_OPTS="+string(opts), handshake.EnvName+"="+env.String())
	cmd.ExtraFiles = link.PluginFiles()
	out := &pyConfOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		link.Close()
		t.Fatalf("starting %s: %v", script, err)
	}
	link.ClosePluginFiles()
	p := &pyConfPeer{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("python plugin (pid %d) output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	fail := func(format string, args ...any) {
		link.Close()
		p.Kill()
		<-p.done
		t.Fatalf("%s\npython plugin output:\n%s", fmt.Sprintf(format, args...), out.String())
	}

	// What a Go plugin serving the suite's services announces.
	mux := session.NewMux()
	if _, err := conformance.RegisterServices(mux); err != nil {
		fail("registering the services: %v", err)
	}
	want := handshake.Wire(mux.Services())
	hello := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Cookie: pyConfCookie, Versions: versions,
		Limits: handshake.Limits{MaxPayload: conformance.MaxPayload,
			ChannelWindow: session.DefaultChannelWindow, LinkWindow: session.DefaultLinkWindow}}
	if err := link.Ready(); err != nil {
		fail("segment: %v", err)
	}
	_, err = handshake.Host(handshake.Datagrams(link.Control()), time.Now().Add(20*time.Second), hello,
		func(r *handshake.Reply) error {
			if err := handshake.CheckServices(r.Version, want, r.Services); err != nil {
				return err
			}
			if !reflect.DeepEqual(want, r.Services) {
				return fmt.Errorf("the plugin announces\n%+v\nwhere a Go plugin announces\n%+v", r.Services, want)
			}
			// It calls the host's Test service (nested calls, drain).
			return handshake.CheckHostServices(r.Version, r.HostServices, want)
		})
	if err != nil {
		fail("handshake: %v", err)
	}
	tr, err := link.Transport(shmlink.Config{MaxPayload: conformance.MaxPayload})
	if err != nil {
		fail("transport: %v", err)
	}
	return tr, p
}

// pyConfPeer controls the Python plugin process.
type pyConfPeer struct {
	cmd    *exec.Cmd
	out    *pyConfOutput
	done   chan struct{} // closed once the process is reaped
	err    error         // its exit error, valid once done is closed
	killed atomic.Bool
}

// Kill is SIGKILL: the host learns of it only through the control socket,
// as of a crash.
func (p *pyConfPeer) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
}

// pyConfEnds are the last words of a plugin that ended as it should once
// the host's session closed the link: the suite's sessions close without
// the host package's Shutdown notice, which the plugin then takes for the
// host's death (exit status 1). Anything else (a protocol violation the
// plugin found, an internal error) fails Wait.
var pyConfEnds = []string{
	"plugin: the host closed the control socket without notice (it died?)",
}

// Wait waits for the process to exit and judges how it ended.
func (p *pyConfPeer) Wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return fmt.Errorf("the python plugin has not exited within %v", timeout)
	}
	if p.killed.Load() || p.err == nil {
		return nil
	}
	last := p.out.lastPluginLine()
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.ExitCode() == 1 {
		for _, ok := range pyConfEnds {
			if last == ok {
				return nil
			}
		}
	}
	return fmt.Errorf("the python plugin ended with %v (last words %q)", p.err, last)
}

// pyConfOutput collects the plugin's stdout and stderr.
type pyConfOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *pyConfOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() < 4<<20 {
		o.buf.Write(b)
	}
	return len(b), nil
}

func (o *pyConfOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// lastPluginLine is the last output line starting "plugin: ".
func (o *pyConfOutput) lastPluginLine() string {
	lines := strings.Split(strings.TrimSpace(o.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "plugin: ") {
			return lines[i]
		}
	}
	return ""
}
