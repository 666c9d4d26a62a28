package plexustest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// Config is what a Link serves.
type Config struct {
	// Services are served by the plugin's end: what the code under test
	// calls, typically a generated NewXService(impl).
	Services []plugin.Service
	// HostServices are served by the host's end: what the plugin's
	// handlers call back, through session.FromContext(ctx) or the session
	// OnLink receives (in a real host, host.Config.HostServices).
	HostServices []plugin.Service
	// OnLink, if set, is called with the plugin's end once the link is up
	// and before any handler runs, as plugin.ServeConfig.OnLink is: calls
	// that arrive earlier wait until it returns, so it must not wait for
	// a call of the host. A plugin's own OnLink can be passed as it is.
	OnLink func(host session.Conn, version uint32)
	// Version is the application version OnLink is given; default 1.
	Version uint32
	// Logger receives both ends' log lines, named "host" and "plugin".
	// Default: none for Start; warnings and above in the test's log for
	// Pair and Connect.
	Logger hclog.Logger
}

// Link is an in-process link: two sessions connected to each other.
type Link struct {
	// Host is the host's end: it calls Services and serves HostServices.
	// It is what a generated NewXClient takes.
	Host *session.Session
	// Plugin is the plugin's end: it serves Services and calls
	// HostServices.
	Plugin *session.Session
}

// Close ends both sessions, the host's end first: the host's calls in
// flight fail with LINK_CLOSED, and handlers' contexts are cancelled. It
// is idempotent.
func (l *Link) Close() {
	_ = l.Host.Close()
	_ = l.Plugin.Close()
}

// Start connects a host's end to a plugin's end serving cfg.Services, in
// this process, and returns them; the caller must Close the Link. It
// fails, with nothing started, if the services do not register (a nil
// implementation, a name served twice, a hand-written Method without
// exactly one handler).
func Start(cfg Config) (*Link, error) {
	pluginMux, err := plugin.NewMux(cfg.Services...)
	if err != nil {
		return nil, fmt.Errorf("plexustest: Services: %w", err)
	}
	hostMux, err := plugin.NewMux(cfg.HostServices...)
	if err != nil {
		return nil, fmt.Errorf("plexustest: HostServices: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	version := cfg.Version
	if version == 0 {
		version = 1
	}
	// As plugin.Run does: the plugin's handlers wait until OnLink has
	// returned, so that what it stores is there for the first call.
	var hold chan struct{}
	if cfg.OnLink != nil {
		hold = make(chan struct{})
	}
	a, b := inproc.Pipe(inproc.Config{})
	l := &Link{
		Host: session.New(a, session.Config{Role: session.Initiator, Mux: hostMux,
			Logger: log.Named("host"), KeepaliveIdle: -1}),
		Plugin: session.New(b, session.Config{Role: session.Acceptor, Mux: pluginMux,
			Logger: log.Named("plugin"), KeepaliveIdle: -1, Hold: hold}),
	}
	if cfg.OnLink != nil {
		cfg.OnLink(l.Plugin, version)
		close(hold)
	}
	return l, nil
}

// Connect is Start for a test: the Link is closed by t.Cleanup, the
// sessions log warnings to the test's log, and a service that does not
// register fails the test.
func Connect(t testing.TB, cfg Config) *Link {
	t.Helper()
	var w *testLog
	if cfg.Logger == nil {
		w = &testLog{t: t}
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: w})
	}
	l, err := Start(cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		l.Close()
		if w != nil {
			w.stop()
		}
	})
	return l
}

// Pair serves services on the plugin's end of an in-process link and
// returns the host's end, for a generated client:
//
//	conn := plexustest.Pair(t, greeter.NewGreeterService(impl{}))
//	client := greeter.NewGreeterClient(conn)
//
// The link is closed by t.Cleanup. See Connect for host services and
// OnLink.
func Pair(t testing.TB, services ...plugin.Service) *session.Session {
	t.Helper()
	return Connect(t, Config{Services: services}).Host
}

// testLog writes log lines to the test's log until stop. A goroutine of a
// session may log after the sessions were closed, and t.Logf after the
// test has completed panics; stop holds the lock, so once it returns no
// write reaches t.
type testLog struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func (w *testLog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
