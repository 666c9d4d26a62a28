package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
)

// instance is one running plugin process and the host's session to it,
// or, attached (Config.Attach), the link to a plugin the host did not
// start: cmd is nil then, pid 0, and exited is closed when the link has
// ended.
type instance struct {
	name    string // Config.Name
	cmd     *exec.Cmd
	pid     int    // the host's child (a wrapper, if one forked the plugin); also its process group
	addr    string // attached: the plugin's address
	sess    *session.Session
	tr      transport.Transport // the session's, for statistics (see Client.Stats)
	version uint32
	started time.Time
	log     hclog.Logger

	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid once exited is closed
	logs    sync.WaitGroup
	outs    []*os.File // read ends of stdout and stderr
	tail    tailBuf    // the last lines of its stderr

	stopOnce sync.Once
}

// stopSignal is how instance.signal ends a plugin: SIGTERM or SIGKILL to
// its process group on Unix; on Windows only the kill, of the process.
type stopSignal int

const (
	sigTerm stopSignal = iota
	sigKill
)

// checksumPath is the file that Config.Checksum is checked against: the
// one exec would run, a relative Path with a slash being relative to Dir.
func checksumPath(cfg *Config) string {
	if cfg.Dir != "" && !filepath.IsAbs(cfg.Path) && strings.ContainsRune(cfg.Path, '/') {
		return filepath.Join(cfg.Dir, cfg.Path)
	}
	return cfg.Path
}

// startFailed ends an instance whose handshake failed (err; nil when the
// context ended just as it succeeded) and explains the failure in words
// for whoever runs the host: how the process ended, why that probably
// happened, and its last lines on stderr, which the log may not show
// (plain stderr lines are Debug entries). The instance is killed and
// reaped, and its output drained, before the error is made, so that the
// exit status and the stderr lines are complete.
func (in *instance) startFailed(parent context.Context, cfg *Config, err error, answered bool) error {
	noAnswer := err == nil || plexus.CodeOf(err) == plexus.DeadlineExceeded
	byItself := false
	if !noAnswer {
		byItself = in.waitExit(exitWait)
	}
	in.kill()
	// A plugin that refused the link logged its reason too, and Serve
	// printed it: the error says it once.
	omit := ""
	if st := (*plexus.Status)(nil); errors.As(err, &st) {
		omit = strings.TrimPrefix(st.Message, "plugin refused the link: ")
	}
	tail := in.tail.text(omit)
	withTail := func(msg string) string {
		if tail == "" {
			return msg
		}
		return msg + "; its last lines on stderr:" + tail
	}
	prefix := "host: " + cfg.Name + ": start"
	switch {
	case noAnswer && parent.Err() != nil:
		cause := parent.Err()
		st := plexus.WithCause(plexus.CodeOf(cause), cause, "handshake: "+cause.Error())
		return fmt.Errorf("%s: %w; Start's context ended before the plugin answered the handshake%s",
			prefix, st, withTail(""))
	case noAnswer:
		if err == nil {
			err = plexus.Errorf(plexus.DeadlineExceeded, "handshake: the peer did not answer in time")
		}
		return fmt.Errorf("%s: %w; %s", prefix, err, withTail(fmt.Sprintf(
			"the plugin did not answer the handshake within Config.StartTimeout (%v) and was killed: "+
				"either %s is not a plexus plugin (a plugin's main must call plugin.Serve, which answers at once) "+
				"or it needs longer to start (raise StartTimeout)", cfg.StartTimeout, cfg.Path)))
	case errors.Is(err, plexus.ErrPeerDied) && !answered:
		what := fmt.Sprintf("%s closed its end of the link without answering the handshake (and was killed: %s)", cfg.Path, in.exitText())
		if byItself {
			what = fmt.Sprintf("%s exited (%s) without answering the handshake", cfg.Path, in.exitText())
		}
		const notPlugin = "it does not look like a plexus plugin (a plugin's main must call plugin.Serve, which answers the handshake at once)"
		switch {
		case in.tail.hasLine("plugin: "): // plugin.Serve's last word: it said why
			what += "; its last lines on stderr say why:" + tail
		case tail == "":
			what += ": " + notPlugin
		default:
			what += ": " + notPlugin + ", or it failed before calling plugin.Serve; its last lines on stderr:" + tail
		}
		return fmt.Errorf("%s: %w; %s", prefix, err, what)
	default:
		return fmt.Errorf("%s: %w (plugin pid %d: %s)%s", prefix, err, in.pid, in.exitText(), withTail(""))
	}
}

func (in *instance) closeOutputs() {
	for _, f := range in.outs {
		f.Close()
	}
}

// waitExit waits up to d for the process to be reaped.
func (in *instance) waitExit(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-in.exited:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-in.exited:
		return true
	case <-t.C:
		return false
	}
}

// kill ends the instance at once: SIGKILL to its process group, reap,
// collect the last output. Safe to call more than once.
func (in *instance) kill() {
	in.stopOnce.Do(func() {
		if in.cmd == nil {
			_ = in.sess.Close() // attached: the link ends, not the plugin
		}
		in.signal(sigKill)
		in.finish()
	})
}

// stop ends the instance gracefully: the plugin is told, the link drains
// (GoAway, calls in flight finish) and closes, and the plugin gets grace
// to exit, then SIGTERM and grace again, then SIGKILL with its group.
func (in *instance) stop(grace time.Duration) {
	in.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		select {
		case <-in.sess.Done():
		default:
			_ = in.sess.Invoke(ctx, handshake.ShutdownMethod, plexus.Raw{}, nil)
		}
		_ = in.sess.Drain(ctx)
		cancel()
		if in.cmd == nil {
			_ = in.sess.Close() // attached: the plugin runs on
			in.finish()
			return
		}
		if !in.waitExit(grace) {
			in.log.Warn("plugin did not exit after its link closed; sending SIGTERM", "pid", in.pid, "grace", grace)
			in.signal(sigTerm)
			if !in.waitExit(grace) {
				in.log.Warn("plugin ignored SIGTERM; killing its process group", "pid", in.pid)
			}
		}
		in.signal(sigKill) // children left behind, if nothing else
		in.finish()
	})
}

// finish reaps the process, ends the session (releasing the segment) and
// waits, within a bound, for the output forwarders.
func (in *instance) finish() {
	<-in.exited
	if in.cmd == nil {
		in.log.Debug("link to attached plugin ended", "address", in.addr)
		return
	}
	in.log.Debug("plugin exited", "pid", in.pid, "status", in.exitText())
	if in.sess != nil {
		// The socket closed with the process: let the session see that
		// (calls in flight fail with PeerDied) before closing it here.
		select {
		case <-in.sess.Done():
		case <-time.After(time.Second):
		}
		_ = in.sess.Close()
	}
	done := make(chan struct{})
	go func() { in.logs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		// A descendant that left the process group still holds the
		// pipes: stop reading.
		in.closeOutputs()
		<-done
	}
	in.closeOutputs()
}

// exitText says how the process ended, in os.ProcessState's words ("exit
// status 3", "signal: killed"): the one form of the plugin's exit in
// logs and errors.
func (in *instance) exitText() string {
	if in.cmd == nil {
		return "attached at " + in.addr + ", not the host's to stop"
	}
	select {
	case <-in.exited:
		if in.cmd.ProcessState != nil {
			return in.cmd.ProcessState.String()
		}
		return in.waitErr.Error()
	default:
		return "still running"
	}
}

// exitErr is Client.ExitErr for this instance, once reaped: nil if it
// exited with status 0 after the host asked it to (asked: Close), else an
// error naming its exit status or signal that wraps the *exec.ExitError;
// cause, if set, is why the link ended (a death the host did not ask
// for).
func (in *instance) exitErr(asked bool, cause error) error {
	<-in.exited
	link := ""
	if cause != nil {
		link = "; link: " + cause.Error()
	}
	if in.cmd == nil {
		if asked {
			return nil
		}
		return fmt.Errorf("host: plugin %s at %s: the link ended without being asked to%s", in.name, in.addr, link)
	}
	ps := in.cmd.ProcessState
	switch {
	case in.waitErr == nil && asked:
		return nil
	case in.waitErr == nil:
		return fmt.Errorf("host: plugin %s (pid %d) ended without being asked to: %s%s", in.name, in.pid, ps, link)
	default:
		return fmt.Errorf("host: plugin %s (pid %d) ended: %w%s", in.name, in.pid, in.waitErr, link)
	}
}

// checkReply checks the plugin's REPLY: the services it serves against
// those the host expects of its version, and the host services it calls
// (protocol 3 on; an older plugin lists none) against what HostServices
// serves, as described (session.Mux.Describe).
func checkReply(cfg *Config, r *handshake.Reply) error {
	if err := handshake.CheckServices(r.Version, handshake.Wire(cfg.Versions[r.Version]), r.Services); err != nil {
		return err
	}
	if len(r.HostServices) == 0 {
		return nil
	}
	return handshake.CheckHostServices(r.Version, r.HostServices, handshake.Wire(cfg.HostServices.Services()))
}
