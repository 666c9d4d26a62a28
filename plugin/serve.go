package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/timeslice"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// Exit codes of Serve.
const (
	ExitOK        = 0 // the host closed the link
	ExitFailed    = 1 // the handshake or the link failed, or the plugin refused to start
	ExitNotPlugin = 2 // not started by a host
)

// ErrNotPlugin is returned by Run in a process not started by a host.
var ErrNotPlugin = errors.New("plugin: not started by a plexus host: " + handshake.EnvName + " is not set")

// NotPluginMessage is what Serve prints when started by hand.
const NotPluginMessage = `This program is a plexus plugin. It is started by its host program, which
passes it a link (the ` + handshake.EnvName + ` environment variable and inherited
file descriptors); it cannot do anything on its own. Run the host program instead.
`

// ServeConfig is what a plugin serves.
type ServeConfig struct {
	// Cookie must equal the host's: a host built for other plugins (or a
	// plugin started by the wrong host) is refused at once, on both sides.
	Cookie string
	// Versions maps each application version this plugin can speak to the
	// services it serves in that version; the highest version the host
	// also supports is used.
	Versions map[uint32][]Service
	// Logger is the session's logger; default Logger("plugin").
	Logger hclog.Logger
	// HandshakeTimeout bounds the wait for the host's handshake;
	// default 10 s.
	HandshakeTimeout time.Duration
	// OnLink, if set, is called with the session once the link is up,
	// before any handler runs: through it the plugin calls the services
	// the host registered (host.Config.HostServices).
	OnLink func(host session.Conn, version uint32)
	// HostServices maps application versions to the host services the
	// plugin calls in that version (generated code's XServiceDesc
	// values, which the host's own build describes its services with:
	// session.Mux.Describe); a version without an entry declares none.
	// The handshake sends them and the host refuses the link, naming
	// the service, the method and both signature hashes, unless it
	// serves every one of their methods with an equal signature (a
	// method the host registered without a description is checked for
	// presence only). Every key must be a key of Versions. A host whose
	// plexus predates this check (link protocol 2) cannot make it: this
	// plugin then refuses the link with VersionMismatch, saying so,
	// rather than link unchecked; leave the version's entry out to link
	// with such hosts.
	HostServices map[uint32][]ServiceDesc
	// KeepaliveIdle and KeepaliveTimeout configure pings from the plugin
	// (the host pings by default; a negative idle, the default here,
	// disables the plugin's).
	KeepaliveIdle, KeepaliveTimeout time.Duration
	// TimeSlice is the scheduler time slice the plugin asks the kernel
	// for, for every thread of its process, as host.Config.TimeSlice: a
	// thread woken by the host then takes a processor from a CPU-bound
	// program's thread at once. A plugin the host started has the host's
	// already (it is inherited). Zero means 100 us; negative leaves the
	// threads as they are.
	TimeSlice time.Duration
	// Bounds on what the host can make the plugin hold (zero: the default
	// of each), as host.Config's fields of the same names.
	MaxPeerCalls, MaxQueuedNotifications int
	MaxPendingBlobs, MaxBlobMemory       int
	// Listener, if set, is where the plugin serves hosts that attach to
	// it (host.Config.Attach) when a host did not start it:
	// pluginnet.Listen (package plugin/pluginnet) makes one at a Unix
	// socket or over TCP with TLS. Run then serves every host that
	// connects, each on a link of its own with its own session and
	// OnLink, until SIGTERM or SIGINT, and returns nil after draining
	// them; it closes the Listener. A host's death or Close ends its link
	// only. A connection with a HandshakeContext method (as a *tls.Conn
	// has) completes that handshake before plexus's, within
	// HandshakeTimeout. The same binary still serves a host that starts
	// it: the handshake variable wins, and Run closes the Listener unused
	// (StartedByHost tells a program before it listens). It is an
	// interface of this package's, made elsewhere, so that a
	// plugin that does not listen links neither package net nor
	// crypto/tls, which would add milliseconds to every start (DESIGN.md
	// "Starting a plugin").
	Listener Listener
	// Interceptors observe and shape every call on the link: the host's
	// calls to this plugin and this plugin's calls to the host, of every
	// shape (session.Interceptor), in this order. The calls to the host
	// are named after the version's HostServices.
	Interceptors []session.Interceptor
	// Idempotency answers the host's repeated calls of this plugin's
	// idempotent methods (generated //plexus:idempotent) that carry an
	// idempotency key (package retry sets one) with the first call's
	// result instead of running the handler again
	// (session.IdempotencyCache). nil: a cache with the default limits,
	// shared by every link of this process (a listening plugin's hosts
	// included); the plugin's death takes it along.
	Idempotency *session.IdempotencyCache
}

// Logger returns an hclog logger that writes JSON lines to stderr at
// level Trace; the host forwards them with their level and fields, and
// filters by its own level.
func Logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: os.Stderr, JSONFormat: true, Level: hclog.Trace})
}

// Serve runs Run and exits the process: ExitOK when the host closed the
// link, ExitNotPlugin (after printing NotPluginMessage to stderr) when not
// started by a host, ExitFailed otherwise. When the host dies Serve does
// not return either: the plugin's process group is killed (see Run).
func Serve(cfg ServeConfig) {
	err := Run(cfg)
	switch {
	case err == nil:
		os.Exit(ExitOK)
	case errors.Is(err, ErrNotPlugin):
		fmt.Fprint(os.Stderr, NotPluginMessage)
		os.Exit(ExitNotPlugin)
	default:
		// The host recognises a line starting "plugin: " as this one
		// (and the errors of Run mostly start so already).
		msg := err.Error()
		if !strings.HasPrefix(msg, "plugin: ") {
			msg = "plugin: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(ExitFailed)
	}
}

// termGrace is how long SIGTERM waits for the link to end before it is
// taken as a request to leave rather than the host's death.
const termGrace = 500 * time.Millisecond

// StartedByHost reports whether a host started this process as its
// plugin (the handshake variable is set), as Run will find: a program that
// also serves hosts that attach (ServeConfig.Listener) can skip listening
// then.
func StartedByHost() bool {
	_, ok := os.LookupEnv(handshake.EnvName)
	return ok
}

// Run serves the host until it closes the link. See the package comment
// for what happens when the host dies. A program not started by a host
// serves hosts that attach to it if ServeConfig.Listener is set (see
// there), and returns ErrNotPlugin otherwise.
func Run(cfg ServeConfig) error {
	val, ok := os.LookupEnv(handshake.EnvName)
	if !ok {
		if cfg.Listener != nil {
			return runListening(cfg)
		}
		return ErrNotPlugin
	}
	if cfg.Listener != nil {
		_ = cfg.Listener.Close() // a host started it: nobody attaches
	}
	// The plugin's own children must not mistake themselves for plugins.
	_ = os.Unsetenv(handshake.EnvName)
	env, err := handshake.ParseEnv(val)
	if err != nil {
		return err
	}
	if err := checkLinkEnv(env); err != nil {
		return err
	}
	if err := cfg.withDefaults(); err != nil {
		return err
	}

	// SIGTERM is watched for the host's death (see below). stdout and
	// stderr are pipes to the host: once it is dead a write there (a log
	// line, say) would end the plugin by SIGPIPE before it can take its
	// children down; with SIGPIPE notified the write fails with EPIPE
	// instead. (Notified, not ignored: an ignored SIGPIPE would be
	// inherited by the plugin's children across exec.) The first Notify
	// waits for the runtime to start its signal thread, a third of a
	// millisecond of the start on the test machine, so it runs beside
	// the link's opening, and every path waits for it (signalsSet) before
	// it writes a line or serves. Until then a SIGTERM ends the plugin
	// at once, as it would any program; it has no children yet.
	term := make(chan os.Signal, 1)
	notified := make(chan struct{})
	go func() {
		signal.Notify(term, syscall.SIGTERM)
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		close(notified)
	}()
	signalsSet := func() { <-notified }
	defer func() { signalsSet(); signal.Stop(term) }()
	lin, err := checkHost(env.HostPID)
	if errors.Is(err, errHostExited) {
		signalsSet()
		hostGone(cfg.Logger, lin, err.Error())
		return plexus.Errorf(plexus.PeerDied, "%v", err)
	}
	if err != nil {
		// The host is alive but cannot look after this plugin. Say so
		// in the log and in the handshake, so that the host's Start
		// fails with these words rather than a broken pipe.
		signalsSet()
		cfg.Logger.Error("refusing to start", "reason", err.Error())
		refuse(env, cfg.HandshakeTimeout, err)
		return err
	}
	// Before the handshake, so that the host's first call finds it set.
	sliceErr := askTimeSlice(&cfg)
	l, err := openLink(env, &cfg)
	signalsSet()
	if sliceErr != nil {
		cfg.Logger.Debug("could not set the threads' time slice", "error", sliceErr)
	}
	if err != nil {
		return fmt.Errorf("plugin: link: %w", err)
	}
	s, closing, err := serveLink(&cfg, l)
	if err != nil {
		return err
	}
	select {
	case <-s.Done():
	case <-term:
		// The parent-death signal arrives when the host's forking thread
		// exits, while the host may still look like our parent; its
		// control socket closes within moments then. A host that is
		// alive sends SIGTERM only after closing the link, so a link
		// still up after a grace moment means someone else wants us to
		// stop: leave gracefully.
		select {
		case <-s.Done():
		case <-time.After(termGrace):
			cfg.Logger.Info("SIGTERM; draining the link")
			drain(s)
			return nil
		}
	}
	if closing.Load() {
		return nil
	}
	err = s.Err()
	if errors.Is(err, plexus.ErrPeerDied) {
		hostGone(cfg.Logger, lin, err.Error())
	}
	return err
}

// askTimeSlice asks for cfg.TimeSlice (see there), and returns why it
// could not be set where the system has the attribute. Failing, the
// plugin serves as well, only slower beside busy programs: the caller
// says so at debug level.
func askTimeSlice(cfg *ServeConfig) error {
	if err := timeslice.Ask(cfg.TimeSlice); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
		return err
	}
	return nil
}

// withDefaults checks cfg and fills in its defaults.
func (cfg *ServeConfig) withDefaults() error {
	if len(cfg.Versions) == 0 {
		return errors.New("plugin: ServeConfig.Versions is empty")
	}
	for v := range cfg.HostServices {
		if _, ok := cfg.Versions[v]; !ok {
			return fmt.Errorf("plugin: ServeConfig.HostServices lists version %d, which Versions does not", v)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger("plugin")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.KeepaliveIdle == 0 {
		cfg.KeepaliveIdle = -1
	}
	if cfg.TimeSlice == 0 {
		cfg.TimeSlice = timeslice.Default
	}
	if cfg.Idempotency == nil {
		cfg.Idempotency = session.NewIdempotencyCache(session.IdempotencyLimits{})
	}
	return nil
}

// checkLinkEnv checks the descriptors the handshake variable names before
// anything touches them: a count this build does not expect means host
// and plugin disagree on the link, and those descriptors may be anything.
func checkLinkEnv(env handshake.Env) error {
	n := env.LastFD - env.FirstFD + 1
	switch {
	case env.Link != handshake.LinkSocket && n != shmFileCount:
		return fmt.Errorf("plugin: host passed %d link descriptors, this plugin expects %d (mismatched plexus versions?)", n, shmFileCount)
	case env.Link == handshake.LinkSocket && env.Dial == "" && n != 1:
		return fmt.Errorf("plugin: host passed %d descriptors for a socket link, which has one (mismatched plexus versions?)", n)
	}
	return nil
}

// link is a linked transport: the handshake has succeeded on it.
type link struct {
	tr      transport.Transport
	hello   *handshake.Hello
	version uint32
}

// openLink opens the link the handshake variable describes and runs the
// plugin's side of the handshake on it.
func openLink(env handshake.Env, cfg *ServeConfig) (link, error) {
	if env.Link == handshake.LinkSocket {
		conn, err := socketConn(env)
		if err != nil {
			return link{}, err
		}
		return handshakeStream(conn, cfg)
	}
	return openShm(env, cfg)
}

// handshakeStream runs the plugin's side of the handshake on a byte
// stream (a socket link, or a host that attached) and makes the stream
// transport that takes it over. conn is closed on failure.
func handshakeStream(conn stream.Conn, cfg *ServeConfig) (link, error) {
	hello, r, err := handshake.Plugin(handshake.Frames(conn), time.Now().Add(cfg.HandshakeTimeout), func(h *handshake.Hello) (*handshake.Reply, error) {
		return answer(cfg, h)
	})
	if err != nil {
		_ = conn.Close()
		return link{}, err
	}
	tr := stream.New(conn, stream.Config{MaxPayload: int(hello.Limits.MaxPayload)})
	return link{tr: tr, hello: hello, version: r.Version}, nil
}

// refuse answers the host's HELLO with REJECT carrying why (best effort,
// within timeout): the host's Start then fails with the plugin's reason.
func refuse(env handshake.Env, timeout time.Duration, why error) {
	no := func(*handshake.Hello) (*handshake.Reply, error) { return nil, why }
	if env.Link != handshake.LinkSocket {
		refuseShm(env, timeout, no)
		return
	}
	if conn, err := socketConn(env); err == nil {
		_, _, _ = handshake.Plugin(handshake.Frames(conn), time.Now().Add(timeout), no)
		_ = conn.Close()
	}
}

// serveLink starts the session over a linked transport and serves the
// host's calls on it: the services of the negotiated version, and the
// reserved Shutdown, which sets closing (the end of the link that follows
// is the host's close, not its death).
func serveLink(cfg *ServeConfig, l link) (*session.Session, *atomic.Bool, error) {
	mux := session.NewMux()
	if err := register(mux, cfg.Versions[l.version]); err != nil {
		_ = l.tr.Close()
		return nil, nil, err
	}
	closing := new(atomic.Bool)
	if _, err := mux.HandleUnary(handshake.ReservedService, "Shutdown", func(context.Context, []byte) (plexus.Marshaler, error) {
		closing.Store(true)
		return plexus.Raw{}, nil
	}); err != nil {
		_ = l.tr.Close()
		return nil, nil, err
	}
	// Handlers wait until OnLink has returned, so that what it sets up
	// (the host connection, typically) is there for the first call.
	linked := make(chan struct{})
	s := session.New(l.tr, session.Config{
		Role: session.Acceptor, Mux: mux, Logger: cfg.Logger,
		ChannelWindow: int(l.hello.Limits.ChannelWindow), LinkWindow: int(l.hello.Limits.LinkWindow),
		KeepaliveIdle: cfg.KeepaliveIdle, KeepaliveTimeout: cfg.KeepaliveTimeout,
		MaxPeerCalls: cfg.MaxPeerCalls, MaxQueuedNotifications: cfg.MaxQueuedNotifications,
		Hold: linked, Interceptors: cfg.Interceptors, Peer: cfg.HostServices[l.version],
		Idempotency: cfg.Idempotency,
	})
	if cfg.OnLink != nil {
		cfg.OnLink(s, l.version)
	}
	close(linked)
	return s, closing, nil
}

// drain ends a link gracefully: GoAway, and the calls in flight finish,
// within a second.
func drain(s *session.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = s.Drain(ctx)
	cancel()
}

// answer decides the plugin's REPLY to the host's HELLO.
func answer(cfg *ServeConfig, h *handshake.Hello) (*handshake.Reply, error) {
	if h.Cookie != cfg.Cookie {
		return nil, plexus.Errorf(plexus.Unauthenticated,
			"handshake cookie mismatch: the host's cookie differs from this plugin's (is this plugin built for this host?)")
	}
	proto, err := handshake.NegotiateProtocol(h.MinProtocol, h.MaxProtocol, handshake.MinProtocol, handshake.MaxProtocol)
	if err != nil {
		return nil, err
	}
	v, err := handshake.NegotiateVersion(h.Versions, handshake.Versions(cfg.Versions))
	if err != nil {
		return nil, err
	}
	descs := make([]ServiceDesc, 0, len(cfg.Versions[v]))
	for _, s := range cfg.Versions[v] {
		descs = append(descs, s.Desc())
	}
	needs := cfg.HostServices[v]
	if len(needs) > 0 && proto < handshake.HostServicesProtocol {
		// Linking unchecked would bring back the failures at call time
		// that declaring the host services is meant to prevent.
		return nil, plexus.Errorf(plexus.VersionMismatch,
			"plugin version %d calls host services (%s) that the host must check at link time, but the host speaks link protocol %d..%d, "+
				"which cannot carry them (protocol %d can): the host's plexus is older than this plugin's; "+
				"rebuild the host with a newer plexus, or leave version %d out of the plugin's ServeConfig.HostServices",
			v, descNames(needs), h.MinProtocol, h.MaxProtocol, handshake.HostServicesProtocol, v)
	}
	return &handshake.Reply{Protocol: proto, Version: v, Limits: h.Limits, Services: handshake.Wire(descs),
		HostServices: handshake.Wire(needs)}, nil
}

// descNames lists the names of ds for a message.
func descNames(ds []ServiceDesc) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}
