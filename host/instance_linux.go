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
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// instance is one running plugin process and the host's session to it.
type instance struct {
	name    string // Config.Name
	cmd     *exec.Cmd
	pid     int // the host's child (a wrapper, if one forked the plugin); also its process group
	sess    *session.Session
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

// exitWait is how long a failed start waits for the plugin to exit by
// itself (it has refused the link or closed it, and is on its way out)
// before killing it: its exit status and last words are part of the
// error.
const exitWait = 500 * time.Millisecond

// startInstance spawns the plugin, runs the handshake and starts the
// session. On failure nothing is left behind: the process group is
// killed and reaped, and every descriptor closed.
func startInstance(ctx context.Context, cfg *Config, std *stdio) (_ *instance, err error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	log := cfg.Logger.Named(cfg.Name)

	// The segment's pages are allocated and pre-faulted while the plugin
	// starts; the handshake below waits for them (link.Ready) before it
	// tells the plugin to map the segment.
	link, err := shmlink.NewLinkDeferred(cfg.Segment)
	if err != nil {
		return nil, fmt.Errorf("host: %s: create link: %w", cfg.Name, err)
	}
	defer link.Close() // whatever the link still owns

	path := cfg.Path
	if cfg.Checksum != nil {
		f, p, err := verified(checksumPath(cfg), cfg.Checksum)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		path = p
	}
	versions := handshake.Versions(cfg.Versions)
	env := handshake.Env{FirstFD: 3, LastFD: 3 + shmlink.FileCount - 1,
		MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Versions: versions, HostPID: os.Getpid()}

	cmd := pluginCommand(cfg, path, env, link.PluginFiles())

	in := &instance{name: cfg.Name, cmd: cmd, log: log, exited: make(chan struct{})}
	// The plugin reads and writes pipes that this process serves itself:
	// passing *os.File values keeps exec from adding copying goroutines
	// that Wait would have to wait for (a Stdin reader that never
	// returns would hold Wait, and with it Close, for ever).
	var childEnds []*os.File // closed here once the child has them
	closeChildEnds := func() {
		for _, f := range childEnds {
			f.Close()
		}
	}
	var stdinW *os.File
	if f, ok := cfg.Stdin.(*os.File); ok && f != nil {
		cmd.Stdin = f
	} else if std.stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("host: %s: stdin pipe: %w", cfg.Name, err)
		}
		cmd.Stdin, stdinW = r, w
		childEnds = append(childEnds, r)
	}
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			in.closeOutputs()
			closeChildEnds()
			if stdinW != nil {
				stdinW.Close()
			}
			return nil, fmt.Errorf("host: %s: output pipe: %w", cfg.Name, err)
		}
		in.outs = append(in.outs, r)
		childEnds = append(childEnds, w)
	}
	cmd.Stdout, cmd.Stderr = childEnds[len(childEnds)-2], childEnds[len(childEnds)-1]
	err = spawn(cmd)
	closeChildEnds()
	link.ClosePluginFiles()
	if err != nil {
		in.closeOutputs()
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("host: %s: start: %w", cfg.Name, err)
	}
	if stdinW != nil {
		go std.stdin.copyTo(stdinW)
	}
	in.pid = cmd.Process.Pid
	in.started = time.Now()
	go func() {
		in.waitErr = cmd.Wait()
		close(in.exited)
	}()
	in.logs.Add(2)
	go func() { defer in.logs.Done(); forward(in.outs[0], log, "stdout", hclog.Info, std.stdout, nil) }()
	go func() { defer in.logs.Done(); forward(in.outs[1], log, "stderr", hclog.Debug, std.stderr, &in.tail) }()
	defer func() {
		if err != nil {
			in.kill()
		}
	}()

	if err := applyLimits(in.pid, cfg.Limits); err != nil {
		return nil, err
	}
	hello := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Cookie: cfg.Cookie, Versions: versions,
		Limits: handshake.Limits{MaxPayload: uint32(cfg.MaxPayload), ChannelWindow: uint32(cfg.ChannelWindow), LinkWindow: uint32(cfg.LinkWindow)}}
	if err := link.Ready(); err != nil {
		return nil, fmt.Errorf("host: %s: create link: %w", cfg.Name, err)
	}
	if cfg.Limits.any() {
		// A wrapper may have forked the plugin before it got its limits.
		if err := limitGroup(in.pid, cfg.Limits, map[int]bool{in.pid: true}); err != nil {
			return nil, err
		}
	}
	ctl := link.Control()
	stop := context.AfterFunc(ctx, func() { _ = ctl.SetDeadline(time.Unix(1, 0)) })
	deadline, _ := ctx.Deadline()
	answered := false // the plugin sent a REPLY
	reply, err := handshake.Host(ctl, deadline, hello, func(r *handshake.Reply) error {
		answered = true
		return checkReply(cfg, r)
	})
	// stopped false: the context ended as the handshake finished, and
	// the socket's deadline may be in the past now, which would break
	// the transport. Give this start up.
	if stopped := stop(); err != nil || !stopped {
		return nil, in.startFailed(parent, cfg, err, answered)
	}
	tr, err := link.Transport(shmlink.Config{MaxPayload: cfg.MaxPayload,
		MaxPendingBlobs: cfg.MaxPendingBlobs, MaxBlobMemory: cfg.MaxBlobMemory})
	if err != nil {
		return nil, fmt.Errorf("host: %s: transport: %w", cfg.Name, err)
	}
	in.version = reply.Version
	in.sess = session.New(tr, session.Config{
		Role: session.Initiator, Mux: cfg.HostServices, Logger: log,
		ChannelWindow: cfg.ChannelWindow, LinkWindow: cfg.LinkWindow,
		KeepaliveIdle: cfg.KeepaliveIdle, KeepaliveTimeout: cfg.KeepaliveTimeout,
		MaxPeerCalls: cfg.MaxPeerCalls, MaxQueuedNotifications: cfg.MaxQueuedNotifications,
	})
	log.Debug("plugin started", "pid", in.pid, "version", reply.Version, "startup", time.Since(in.started))
	return in, nil
}

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
		killGroup(in.pid, syscall.SIGKILL)
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
		if !in.waitExit(grace) {
			in.log.Warn("plugin did not exit after its link closed; sending SIGTERM", "pid", in.pid, "grace", grace)
			killGroup(in.pid, syscall.SIGTERM)
			if !in.waitExit(grace) {
				in.log.Warn("plugin ignored SIGTERM; killing its process group", "pid", in.pid)
			}
		}
		killGroup(in.pid, syscall.SIGKILL) // children left behind, if nothing else
		in.finish()
	})
}

// finish reaps the process, ends the session (releasing the segment) and
// waits, within a bound, for the output forwarders.
func (in *instance) finish() {
	<-in.exited
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
	ps := in.cmd.ProcessState
	link := ""
	if cause != nil {
		link = "; link: " + cause.Error()
	}
	switch {
	case in.waitErr == nil && asked:
		return nil
	case in.waitErr == nil:
		return fmt.Errorf("host: plugin %s (pid %d) ended without being asked to: %s%s", in.name, in.pid, ps, link)
	default:
		return fmt.Errorf("host: plugin %s (pid %d) ended: %w%s", in.name, in.pid, in.waitErr, link)
	}
}

// pluginCommand is the plugin's command: its path (the checked copy when
// a checksum is configured) under the name cfg.Path, the host's
// environment without a stale handshake variable, then cfg.Env and the
// handshake's, and the link's files as fds 3 and up.
func pluginCommand(cfg *Config, path string, env handshake.Env, files []*os.File) *exec.Cmd {
	cmd := exec.Command(path, cfg.Args...)
	cmd.Args[0] = cfg.Path
	cmd.Dir = cfg.Dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, handshake.EnvName+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, cfg.Env...), handshake.EnvName+"="+env.String())
	cmd.ExtraFiles = files
	// Its own process group, so that its children die with it; SIGTERM
	// (not SIGKILL) on the host's death, so that the plugin can kill that
	// group itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	return cmd
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
