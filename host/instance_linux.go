package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	cmd     *exec.Cmd
	pid     int // also its process group
	sess    *session.Session
	version uint32
	started time.Time
	log     hclog.Logger

	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid once exited is closed
	logs    sync.WaitGroup
	outs    []*os.File // read ends of stdout and stderr

	stopOnce sync.Once
}

// startInstance spawns the plugin, runs the handshake and starts the
// session. On failure nothing is left behind: the process group is
// killed and reaped, and every descriptor closed.
func startInstance(ctx context.Context, cfg *Config) (_ *instance, err error) {
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
		f, p, err := verified(cfg.Path, cfg.Checksum)
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

	cmd := exec.Command(path, cfg.Args...)
	cmd.Args[0] = cfg.Path
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, handshake.EnvName+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, cfg.Env...), handshake.EnvName+"="+env.String())
	cmd.ExtraFiles = link.PluginFiles()
	// Its own process group, so that its children die with it; SIGTERM
	// (not SIGKILL) on the host's death, so that the plugin can kill that
	// group itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	in := &instance{cmd: cmd, log: log, exited: make(chan struct{})}
	// The plugin writes into pipes that this process reads: passing
	// *os.File values keeps exec from adding copying goroutines that
	// Wait would have to wait for.
	var writers []*os.File
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			in.closeOutputs()
			for _, w := range writers {
				w.Close()
			}
			return nil, err
		}
		in.outs = append(in.outs, r)
		writers = append(writers, w)
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	err = spawn(cmd)
	for _, w := range writers {
		w.Close()
	}
	link.ClosePluginFiles()
	if err != nil {
		in.closeOutputs()
		return nil, fmt.Errorf("host: %s: start: %w", cfg.Name, err)
	}
	in.pid = cmd.Process.Pid
	in.started = time.Now()
	go func() {
		in.waitErr = cmd.Wait()
		close(in.exited)
	}()
	in.logs.Add(2)
	go func() { defer in.logs.Done(); forward(in.outs[0], log, "stdout", hclog.Info) }()
	go func() { defer in.logs.Done(); forward(in.outs[1], log, "stderr", hclog.Debug) }()
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
	ctl := link.Control()
	stop := context.AfterFunc(ctx, func() { _ = ctl.SetDeadline(time.Unix(1, 0)) })
	deadline, _ := ctx.Deadline()
	reply, err := handshake.Host(ctl, deadline, hello, func(r *handshake.Reply) error {
		return handshake.CheckServices(r.Version, handshake.Wire(cfg.Versions[r.Version]), r.Services)
	})
	stopped := stop()
	if err != nil {
		return nil, in.startError(cfg.Name, err)
	}
	if !stopped {
		// The context ended as the handshake finished: the socket's
		// deadline may be in the past now, which would break the
		// transport. Give this start up.
		return nil, plexus.WithCause(plexus.CodeOf(ctx.Err()), ctx.Err(),
			fmt.Sprintf("host: %s: start: %v", cfg.Name, ctx.Err()))
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

// startError explains a failed handshake, with the plugin's exit status
// when it exited (give it a moment: the socket closes as it exits).
func (in *instance) startError(name string, err error) error {
	select {
	case <-in.exited:
	case <-time.After(200 * time.Millisecond):
	}
	select {
	case <-in.exited:
		if in.waitErr != nil {
			return fmt.Errorf("host: %s: handshake: %w (plugin %v)", name, err, in.waitErr)
		}
		return fmt.Errorf("host: %s: handshake: %w (plugin exited)", name, err)
	default:
		return fmt.Errorf("host: %s: handshake: %w", name, err)
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
	in.log.Debug("plugin exited", "pid", in.pid, "status", in.exitError().Error())
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

// exitError describes how the process ended, once it has.
func (in *instance) exitError() error {
	select {
	case <-in.exited:
		if in.waitErr == nil {
			return errors.New("exited with status 0")
		}
		return in.waitErr
	default:
		return errors.New("still running")
	}
}
