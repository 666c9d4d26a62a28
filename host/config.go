package host

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/timeslice"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// ServiceDesc describes a service the plugin must serve (plexus.ServiceDesc,
// as generated code emits it); a zero method ID means
// plexus.MethodID(service, method).
type ServiceDesc = plexus.ServiceDesc

// MethodDesc describes one method (plexus.MethodDesc).
type MethodDesc = plexus.MethodDesc

// Link is how the host and a plugin it starts are linked.
type Link int

const (
	// LinkDefault is shared memory on Linux and a socket elsewhere.
	LinkDefault Link = iota
	// LinkSharedMemory links through a shared segment (Linux only): the
	// fastest link, and the only one that carries blobs without copies.
	LinkSharedMemory
	// LinkSocket links through an AF_UNIX stream socket the plugin
	// inherits (on Windows: connects back to), running the same session
	// protocol on the stream transport: every call shape, keepalive and
	// death detection, with payloads copied through the socket. It is
	// the link on macOS, FreeBSD and Windows, and may be chosen on Linux.
	LinkSocket
)

func (l Link) String() string {
	switch l {
	case LinkSharedMemory:
		return "shared memory"
	case LinkSocket:
		return "socket"
	}
	return "default"
}

// Attach is where a running plugin serves (plugin.ServeConfig.Listener):
// the host links to it there instead of starting a process.
type Attach struct {
	// Network is "unix" or "tcp" ("tcp4", "tcp6"); Address the socket's
	// path or host:port.
	Network, Address string
	// TLS is required over TCP: the link carries calls and their data,
	// and the host must know it reached its plugin. Its ServerName (or
	// an IP address in Address) and RootCAs identify the plugin; a
	// Certificates entry authenticates the host to a plugin that asks
	// (tls.Config.ClientAuth on the plugin's side). Optional over a Unix
	// socket, whose file permissions guard it.
	TLS *tls.Config
}

// Config describes one plugin executable and how to run it, or, with
// Attach, where to reach a plugin that runs already.
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
	// Link chooses the link to a plugin the host starts; LinkDefault:
	// shared memory on Linux, a socket elsewhere.
	Link Link
	// Attach, if set, links to a plugin that is already running, started
	// by someone else (a service manager, a container, another machine),
	// instead of starting one: Path, Args, Env, Dir, Stdin, Stdout,
	// Stderr, Checksum, Limits, Link and Segment must then be left zero.
	// The handshake, the service checks, calls, keepalive and death
	// detection are those of a started plugin; the host does not own the
	// process, so Close and Kill end the link and not the plugin, and a
	// link that ends unasked is linked again as Restart says (the plugin
	// was restarted by whoever runs it, say).
	Attach *Attach
	// Name names the plugin in logs; default the base name of Path (or
	// the attached address).
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
	// TimeSlice is the scheduler time slice the host asks the kernel for,
	// for every thread of its process, when it starts a plugin (Linux
	// 6.12 and later honour it; elsewhere it is ignored). A thread woken
	// by the plugin then takes a processor from a CPU-bound program's
	// thread at once instead of after that thread's slice (1.4 ms on two
	// processors by default): beside two busy loops on two processors, a
	// call's p99 fell from 1.8-3.2 ms to 0.24 ms. Each thread's share of
	// the CPU is unchanged. The slice is inherited by threads started
	// later and by child processes: the plugin, and any other program the
	// host runs. Zero means 100 us (the kernel's minimum); negative
	// leaves the process's threads as they are. It is process-wide: the
	// last start's value holds.
	TimeSlice time.Duration
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
	// Interceptors observe and shape every call on the plugin's link:
	// the host's calls to the plugin and the plugin's calls to
	// HostServices, of every shape (session.Interceptor), in this order.
	// The calls the host makes are named after the negotiated version's
	// services in Versions.
	Interceptors []session.Interceptor
	// Inspect opens this process's introspection endpoint
	// (ServeInspect) when the client starts, so that plexus inspect can
	// show its plugins' links; it stays open for the process's other
	// clients until StopInspect. Only this user (and root) can read it
	// (DESIGN.md "Inspecting a live host").
	Inspect bool
	// Idempotency, if set, answers the plugin's repeated calls of the
	// idempotent HostServices methods from its cache
	// (session.IdempotencyCache); one cache serves every instance.
	Idempotency *session.IdempotencyCache
}

// checkTarget checks what the Config starts or attaches to, and resolves
// LinkDefault.
func (c *Config) checkTarget() error {
	if c.Attach != nil {
		if err := c.checkAttach(); err != nil {
			return err
		}
		c.Link = LinkSocket
		return nil
	}
	if c.Path == "" {
		return errors.New("host: Config.Path is empty")
	}
	switch {
	case c.Link == LinkDefault && sharedMemory:
		c.Link = LinkSharedMemory
	case c.Link == LinkDefault:
		c.Link = LinkSocket
	case c.Link == LinkSharedMemory && !sharedMemory:
		return fmt.Errorf("host: Config.Link is LinkSharedMemory, which needs Linux; on %s use LinkSocket (or LinkDefault)", runtime.GOOS)
	case c.Link != LinkSharedMemory && c.Link != LinkSocket:
		return fmt.Errorf("host: Config.Link %d is not a Link", int(c.Link))
	}
	if c.Limits.any() && !sharedMemory {
		return fmt.Errorf("host: Config.Limits needs Linux (prlimit), not %s", runtime.GOOS)
	}
	return nil
}

// checkAttach checks a Config that attaches: none of the settings of a
// started plugin, an address, and TLS over TCP.
func (c *Config) checkAttach() error {
	a := c.Attach
	switch {
	case c.Path != "" || len(c.Args) > 0 || len(c.Env) > 0 || c.Dir != "" || c.Checksum != nil:
		return errors.New("host: Config.Attach links to a running plugin: Path, Args, Env, Dir and Checksum are for plugins the host starts")
	case c.Stdin != nil || c.Stdout != nil || c.Stderr != nil || c.Limits.any() || c.Link != LinkDefault || !segmentZero(c.Segment):
		return errors.New("host: Config.Attach links to a running plugin: Stdin, Stdout, Stderr, Limits, Link and Segment are for plugins the host starts")
	case a.Address == "":
		return errors.New("host: Config.Attach.Address is empty")
	}
	switch a.Network {
	case "unix":
		return nil
	case "tcp", "tcp4", "tcp6":
		if a.TLS == nil {
			return fmt.Errorf("host: Config.Attach to %s over TCP needs TLS: set Attach.TLS", a.Address)
		}
		return nil
	}
	return fmt.Errorf("host: Config.Attach.Network %q is not unix or tcp", a.Network)
}

func segmentZero(s shm.Config) bool { return reflect.ValueOf(s).IsZero() }

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
	if err := c.checkTarget(); err != nil {
		return c, err
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
		if c.Attach != nil {
			c.Name = c.Attach.Address
		}
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
	if c.TimeSlice == 0 {
		c.TimeSlice = timeslice.Default
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
		c.MaxPayload = defaultMaxPayload
		if c.Link == LinkSocket {
			// Each frame is read into memory of its size: a large bound
			// would let the peer make this side allocate that much.
			c.MaxPayload = stream.DefaultMaxPayload
		}
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

// any reports whether l sets any limit.
func (l Limits) any() bool {
	return l.AddressSpace > 0 || l.OpenFiles > 0 || l.Processes > 0 || l.CPUSeconds > 0 || l.Core || l.CoreSize > 0
}
