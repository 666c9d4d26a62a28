package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/timeslice"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
)

// exitWait is how long a failed start waits for the plugin to exit by
// itself (it has refused the link or closed it, and is on its way out)
// before killing it: its exit status and last words are part of the
// error.
const exitWait = 500 * time.Millisecond

// startInstance starts an instance: it spawns the plugin, or attaches to
// a running one (Config.Attach).
func startInstance(ctx context.Context, cfg *Config, std *stdio) (*instance, error) {
	if err := timeslice.Ask(cfg.TimeSlice); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
		// Calls still work, only slower beside busy programs.
		cfg.Logger.Named(cfg.Name).Debug("could not set the threads' time slice", "error", err)
	}
	if cfg.Attach != nil {
		return attachInstance(ctx, cfg)
	}
	return spawnInstance(ctx, cfg, std)
}

// spawnInstance spawns the plugin, runs the handshake and starts the
// session. On failure nothing is left behind: the process group is
// killed and reaped, and every descriptor closed.
func spawnInstance(ctx context.Context, cfg *Config, std *stdio) (_ *instance, err error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	log := cfg.Logger.Named(cfg.Name)

	link, err := newLink(cfg)
	if err != nil {
		return nil, fmt.Errorf("host: %s: create link: %w", cfg.Name, err)
	}
	defer link.close() // whatever the link still owns

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
	env := handshake.Env{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Versions: versions, HostPID: os.Getpid()}
	link.describe(&env)

	in := &instance{name: cfg.Name, cmd: pluginCommand(cfg, path, env, link.files()), log: log, exited: make(chan struct{})}
	err = in.spawn(cfg, std)
	link.spawned()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			in.kill()
		}
	}()

	if cfg.Limits.any() {
		if err := applyLimits(in.pid, cfg.Limits); err != nil {
			return nil, err
		}
	}
	ctl, err := link.control(ctx, in.exited)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, in.startFailed(parent, cfg, nil, false)
	case errors.Is(err, plexus.ErrPeerDied):
		return nil, in.startFailed(parent, cfg, err, false)
	default:
		return nil, fmt.Errorf("host: %s: create link: %w", cfg.Name, err)
	}
	if cfg.Limits.any() {
		// A wrapper may have forked the plugin before it got its limits.
		if err := limitGroup(in.pid, cfg.Limits, map[int]bool{in.pid: true}); err != nil {
			return nil, err
		}
	}
	reply, herr := hostHandshake(ctx, cfg, ctl)
	if herr != nil {
		return nil, in.startFailed(parent, cfg, herr.err, herr.answered)
	}
	tr, terr := link.transport(cfg)
	if terr != nil {
		return nil, fmt.Errorf("host: %s: transport: %w", cfg.Name, terr)
	}
	in.version, in.tr = reply.Version, tr
	in.sess = newSession(cfg, tr, reply.Version, log)
	log.Debug("plugin started", "pid", in.pid, "version", reply.Version, "startup", time.Since(in.started))
	return in, nil
}

// spawn starts the process with its standard streams (see Config.Stdin,
// Stdout and Stderr), the reaper and the output forwarders. On failure
// nothing is left open.
func (in *instance) spawn(cfg *Config, std *stdio) error {
	cmd := in.cmd
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
			return fmt.Errorf("host: %s: stdin pipe: %w", cfg.Name, err)
		}
		cmd.Stdin, stdinW = r, w
		childEnds = append(childEnds, r)
	}
	fail := func(what string, err error) error {
		in.closeOutputs()
		closeChildEnds()
		if stdinW != nil {
			stdinW.Close()
		}
		return fmt.Errorf("host: %s: %s: %w", cfg.Name, what, err)
	}
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			return fail("output pipe", err)
		}
		in.outs = append(in.outs, r)
		childEnds = append(childEnds, w)
	}
	cmd.Stdout, cmd.Stderr = childEnds[len(childEnds)-2], childEnds[len(childEnds)-1]
	if err := spawn(cmd); err != nil {
		return fail("start", err)
	}
	closeChildEnds()
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
	go func() { defer in.logs.Done(); forward(in.outs[0], in.log, "stdout", hclog.Info, std.stdout, nil) }()
	go func() { defer in.logs.Done(); forward(in.outs[1], in.log, "stderr", hclog.Debug, std.stderr, &in.tail) }()
	return nil
}

// handshakeErr is a failed handshake: its error, and whether the plugin
// had answered (sent a REPLY) before it failed.
type handshakeErr struct {
	err      error
	answered bool
}

// hostHandshake runs the host's side of the handshake on ctl within ctx
// and checks the plugin's REPLY (checkReply).
func hostHandshake(ctx context.Context, cfg *Config, ctl handshake.MsgConn) (*handshake.Reply, *handshakeErr) {
	hello := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol,
		Cookie: cfg.Cookie, Versions: handshake.Versions(cfg.Versions),
		Limits: handshake.Limits{MaxPayload: uint32(cfg.MaxPayload), ChannelWindow: uint32(cfg.ChannelWindow), LinkWindow: uint32(cfg.LinkWindow)}}
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
		return nil, &handshakeErr{err: err, answered: answered}
	}
	return reply, nil
}

// newSession starts the host's session over a linked transport, for the
// negotiated application version.
func newSession(cfg *Config, tr transport.Transport, version uint32, log hclog.Logger) *session.Session {
	return session.New(tr, session.Config{
		Role: session.Initiator, Mux: cfg.HostServices, Logger: log,
		ChannelWindow: cfg.ChannelWindow, LinkWindow: cfg.LinkWindow,
		KeepaliveIdle: cfg.KeepaliveIdle, KeepaliveTimeout: cfg.KeepaliveTimeout,
		MaxPeerCalls: cfg.MaxPeerCalls, MaxQueuedNotifications: cfg.MaxQueuedNotifications,
		Interceptors: cfg.Interceptors, Peer: cfg.Versions[version], Idempotency: cfg.Idempotency,
	})
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
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}
