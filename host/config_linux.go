package host

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// ServiceDesc describes a service the plugin must serve (plexus.ServiceDesc,
// as generated code emits it); a zero method ID means
// plexus.MethodID(service, method).
type ServiceDesc = plexus.ServiceDesc

// MethodDesc describes one method (plexus.MethodDesc).
type MethodDesc = plexus.MethodDesc

// Config describes one plugin executable and how to run it.
type Config struct {
	// Path is the plugin executable; Args its arguments (without the
	// program name); Env is added to the host's environment. Path may
	// be a wrapper that executes the plugin (Path "/bin/sh", Args "-c",
	// "exec ./plugin"): the plugin then has the host's child's pid. A
	// wrapper that forks the plugin instead works too, as long as it
	// waits for it (Pid is then the wrapper's); one that runs the plugin
	// in the background is refused by the plugin, which could not die
	// with the host (DESIGN.md, "Plugin lifecycle").
	Path string
	Args []string
	Env  []string
	// Dir is the plugin's working directory; empty: the host's. As with
	// os/exec, a relative Path containing a slash ("./plugin") is
	// resolved against Dir, the Checksum's file included.
	Dir string
	// Stdin is the plugin's standard input; nil: none (/dev/null). An
	// *os.File is passed to the plugin as it is (each instance of a
	// restarted plugin reads the same file). Any other reader is copied
	// into a pipe by a goroutine of the host, read by one instance at
	// a time: after a restart the new instance goes on from where the
	// reader stands (what the dead instance took into its pipe without
	// reading it is lost), and after the reader's end every instance
	// reads end of file. A Read blocked when the plugin ends holds that
	// goroutine until it returns.
	Stdin io.Reader
	// Stdout and Stderr, if set, receive the plugin's raw output, byte
	// for byte, in addition to its forwarding into Logger. They are
	// written one write at a time (never concurrently, even when they
	// are the same writer), from the goroutines reading the plugin's
	// pipes: a slow writer slows the plugin once a pipe is full. A
	// writer whose Write fails is no longer written to (that is logged
	// as a warning). Everything the plugin wrote has been written by
	// the time its end is reported (Close returns, Exited is closed),
	// except what descendants that left its process group write.
	Stdout, Stderr io.Writer
	// Name names the plugin in logs; default the base name of Path.
	Name string
	// Cookie must equal the plugin's ServeConfig.Cookie.
	Cookie string
	// Versions maps each application version the host can use to the
	// services it expects the plugin to serve in that version; the highest
	// version both sides support wins. Every method's ID and signature
	// hash is checked at link time.
	Versions map[uint32][]ServiceDesc
	// Checksum, if set, is the SHA-256 of the executable. The file is
	// hashed through an open descriptor and that same descriptor is
	// executed, so the file cannot be swapped between check and start.
	Checksum []byte
	// StartTimeout bounds a start: spawning plus handshake; a plugin that
	// has not answered the handshake by then is killed and the start
	// fails with DeadlineExceeded naming this field. Default 10 s.
	StartTimeout time.Duration
	// GracePeriod bounds each step of Close: draining the link and
	// waiting for the plugin to exit, then again after SIGTERM, before
	// the process group is killed. Default 2 s.
	GracePeriod time.Duration
	// Logger receives the plugin's output and the client's own events,
	// under Name. Default: hclog's default logger.
	Logger hclog.Logger
	// Restart says whether and how a plugin that died is restarted.
	Restart RestartPolicy
	// Limits are resource limits applied to the plugin process.
	Limits Limits
	// HostServices serves the plugin's calls to the host (callbacks on
	// the same link). Register everything before Start. A plugin that
	// declares the host services it calls (plugin.ServeConfig.HostServices)
	// is checked against it at Start, like the host's check of the
	// plugin's services: the service and its methods must be served, and
	// the methods' signature hashes must agree where the Mux knows them
	// (session.Mux.Describe records a generated XServiceDesc; a Mux built
	// by plugin.NewMux from generated services has them already).
	HostServices *session.Mux
	// KeepaliveIdle and KeepaliveTimeout detect a plugin that is alive
	// but not answering: after KeepaliveIdle of silence the host pings,
	// and a plugin that does not answer within KeepaliveTimeout is
	// declared dead, killed, and restarted if the policy says so.
	// Defaults 5 s and 5 s; a negative KeepaliveIdle disables them.
	KeepaliveIdle, KeepaliveTimeout time.Duration
	// Segment sets the shared segment's geometry; MaxPayload, ChannelWindow
	// and LinkWindow the link's limits (defaults as in transport/shmlink and
	// session), which the handshake tells the plugin.
	Segment                               shm.Config
	MaxPayload, ChannelWindow, LinkWindow int
	// Bounds on what the plugin can make the host hold (zero: the
	// default of each): handlers running for its calls at once
	// (session.Config.MaxPeerCalls), notifications queued before their
	// credit is withheld (session.Config.MaxQueuedNotifications), blob
	// descriptors passed and not yet claimed, and bytes of its one-shot
	// blobs mapped at once (transport/shmlink Config.MaxPendingBlobs and
	// MaxBlobMemory). A plugin that goes past one breaks the protocol or
	// is slowed by flow control; see each field.
	MaxPeerCalls, MaxQueuedNotifications int
	MaxPendingBlobs, MaxBlobMemory       int
}

// RestartPolicy says how a dead plugin is restarted: after
// min(MinBackoff*2^n, MaxBackoff) for the n-th consecutive restart, at
// most MaxRestarts times in a row; an instance that ran for StableAfter
// resets the count. MaxRestarts 0 (the zero value) never restarts.
type RestartPolicy struct {
	MaxRestarts            int
	MinBackoff, MaxBackoff time.Duration
	StableAfter            time.Duration
}

func (p RestartPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 0; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Limits are resource limits (setrlimit) applied to the plugin process
// right after it starts and before the handshake, so before it serves
// anything. With a wrapper that forks the plugin, they are applied to the
// wrapper at once and, before the handshake, to every process then in the
// plugin's process group, so that a plugin forked before the wrapper got
// them has them too. Zero means "inherit the host's".
type Limits struct {
	AddressSpace uint64 // RLIMIT_AS, bytes
	OpenFiles    uint64 // RLIMIT_NOFILE
	Processes    uint64 // RLIMIT_NPROC (counted per user, not per plugin)
	CPUSeconds   uint64 // RLIMIT_CPU
	CoreSize     uint64 // RLIMIT_CORE; set Core to apply a zero limit
	Core         bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		return c, errors.New("host: Config.Path is empty")
	}
	if len(c.Versions) == 0 {
		return c, errors.New("host: Config.Versions is empty: the host must say which services it expects")
	}
	for v := range c.Versions {
		if v == 0 {
			return c, errors.New("host: version 0 is not a version")
		}
	}
	if c.Checksum != nil && len(c.Checksum) != 32 {
		return c, fmt.Errorf("host: Checksum is %d bytes, a SHA-256 is 32", len(c.Checksum))
	}
	if c.Name == "" {
		c.Name = filepath.Base(c.Path)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.Default()
	}
	if c.KeepaliveIdle == 0 {
		c.KeepaliveIdle = 5 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 5 * time.Second
	}
	if c.ChannelWindow < session.DefaultChannelWindow {
		c.ChannelWindow = session.DefaultChannelWindow
	}
	if c.LinkWindow < session.DefaultLinkWindow {
		c.LinkWindow = session.DefaultLinkWindow
	}
	c.ChannelWindow = min(c.ChannelWindow, 1<<30)
	c.LinkWindow = min(c.LinkWindow, 1<<30)
	if c.MaxPayload <= 0 {
		c.MaxPayload = shmlink.DefaultMaxPayload
	}
	c.MaxPayload = min(c.MaxPayload, 1<<32-1)
	p := &c.Restart
	if p.MinBackoff <= 0 {
		p.MinBackoff = 50 * time.Millisecond
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(p.MinBackoff, 10*time.Second)
	}
	if p.StableAfter <= 0 {
		p.StableAfter = time.Minute
	}
	return c, nil
}
