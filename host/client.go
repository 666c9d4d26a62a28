package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Client runs one plugin executable and routes calls to it. It implements
// session.Conn: each call goes to the plugin's current session, so a
// Client (and every typed client made on it) keeps working across
// restarts.
type Client struct {
	cfg Config
	log hclog.Logger
	std *stdio

	cur atomic.Pointer[instance] // the live instance, nil while none

	mu       sync.Mutex
	started  bool
	closed   bool
	changed  chan struct{} // closed and replaced whenever cur, final or closed change
	final    error         // why there will be no instance any more
	restarts int
	starts   int // instances started (the first and every restart), for Stats
	deaths   int // instances that ended without Close or Kill, for Stats

	lastExit error // how the last instance ended (exitErr), or why its restart failed

	closing chan struct{}  // closed by Close: stops the supervisor and a Start in progress
	sup     sync.WaitGroup // the supervisor, and Start while it runs
	done    chan struct{}  // closed when Close has finished

	exitOnce sync.Once
	exited   chan struct{} // see Exited
	exitErr  error         // see ExitErr; set before exited is closed
}

var _ session.Conn = (*Client)(nil)

// New checks cfg and returns a client that has not started the plugin.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.Named(cfg.Name)
	return &Client{cfg: cfg, log: log, std: newStdio(&cfg, log), changed: make(chan struct{}),
		closing: make(chan struct{}), done: make(chan struct{}), exited: make(chan struct{})}, nil
}

// Start starts the plugin and returns once the handshake has succeeded,
// or with the reason it did not: a *plexus.Status for handshake refusals
// (VersionMismatch, Unauthenticated for a wrong cookie, ...), wrapped in
// an error that says how the plugin ended and quotes its last lines on
// stderr; DeadlineExceeded naming Config.StartTimeout for a plugin that
// did not answer in time; a hint when the program does not look like a
// plexus plugin at all. A failed first start is not retried (Exited is
// closed, and ExitErr returns the error). Close during Start ends the
// start at once; Start then fails with LinkClosed. Start may be called
// once.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started || c.closed {
		c.mu.Unlock()
		return errors.New("host: Start called twice or after Close")
	}
	c.started = true
	c.sup.Add(1) // Close waits for this start, which it cancels
	c.mu.Unlock()
	in, err := c.startCancelable(ctx)
	if err != nil {
		select {
		case <-c.closing:
			// Close reports the client's end (ExitErr nil: nothing
			// failed, the user stopped it) once this has returned.
			err = plexus.Errorf(plexus.LinkClosed, "host: %s: client closed during Start", c.cfg.Name)
		default:
			c.ended(err)
		}
		c.setFinal(err)
		c.sup.Done()
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		in.kill()
		c.sup.Done()
		return plexus.Errorf(plexus.LinkClosed, "host: %s: client closed during Start", c.cfg.Name)
	}
	register(c)
	c.starts++
	if c.cfg.Inspect {
		if _, err := ServeInspect(); err != nil {
			// The plugin runs; only the look at it is missing.
			c.log.Warn("cannot open the introspection endpoint", "error", err)
		}
	}
	c.setCurrentLocked(in)
	c.mu.Unlock()
	go c.supervise(in) // takes over Start's count in c.sup
	return nil
}

// startCancelable starts an instance within ctx, and stops when Close is
// called.
func (c *Client) startCancelable(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return startInstance(ctx, &c.cfg, c.std)
}

// Exited is closed once the client has no running plugin and will not
// start one any more: after Close or Kill (once the plugin is gone), after
// a failed Start, or when the plugin died and its restart policy allows
// no further restart. The plugin's output has been forwarded (and written
// to Config.Stdout and Stderr) by then. A restart in progress does not
// close it. ExitErr says why the client ended.
func (c *Client) Exited() <-chan struct{} { return c.exited }

// ExitErr says how the client's plugin ended, once Exited is closed (nil
// before). It is nil if the plugin exited with status 0 after Close asked
// it to (or Close came before any plugin ran). Otherwise it names the
// exit status or signal of the host's child (the wrapper's, if one forked
// the plugin), in os/exec's words ("exit status 3", "signal: killed"),
// and wraps the *exec.ExitError (errors.As gives the code), with why the
// link ended if the plugin died unasked; after a failed Start, or a
// failed last restart, it is that start's error.
func (c *Client) ExitErr() error {
	select {
	case <-c.exited:
		return c.exitErr
	default:
		return nil
	}
}

// ended records why the client has ended and closes Exited; the first
// call wins.
func (c *Client) ended(err error) {
	c.exitOnce.Do(func() {
		c.exitErr = err
		close(c.exited)
	})
}

// setCurrentLocked makes in (nil: none) the live instance and wakes the
// callers waiting for a change.
func (c *Client) setCurrentLocked(in *instance) {
	c.cur.Store(in)
	c.notifyLocked()
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) setFinal(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final == nil {
		c.final = err
	}
	c.notifyLocked()
}

func alive(in *instance) bool {
	if in == nil {
		return false
	}
	// Two one-case selects, not one with both: a non-blocking receive
	// from an open channel reads an atomic, where a select of two cases
	// locks both channels (5 % of a host's CPU under 64 callers).
	select {
	case <-in.sess.Done():
		return false
	default:
	}
	select {
	case <-in.exited:
		return false
	default:
		return true
	}
}

// session returns the current session, waiting (within ctx) while the
// plugin restarts.
func (c *Client) session(ctx context.Context) (*session.Session, error) {
	if in := c.cur.Load(); alive(in) {
		return in.sess, nil
	}
	for {
		c.mu.Lock()
		in, closed, final, changed, started := c.cur.Load(), c.closed, c.final, c.changed, c.started
		c.mu.Unlock()
		switch {
		case closed:
			return nil, plexus.Errorf(plexus.LinkClosed, "host: plugin %s: client closed", c.cfg.Name)
		case alive(in):
			return in.sess, nil
		case final != nil:
			return nil, final
		case !started:
			return nil, plexus.Errorf(plexus.FailedPrecondition, "host: plugin %s: not started", c.cfg.Name)
		}
		// The instance died and the supervisor has not replaced it yet.
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, plexus.WithCause(plexus.CodeOf(ctx.Err()), ctx.Err(),
				fmt.Sprintf("host: plugin %s is restarting: %v", c.cfg.Name, ctx.Err()))
		}
	}
}

// Invoke makes a unary call on the plugin's current session.
func (c *Client) Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.Invoke(ctx, method, req, resp)
}

// NewStream opens a streaming call on the plugin's current session.
func (c *Client) NewStream(ctx context.Context, method uint64, first plexus.Marshaler, closeSend bool) (*session.Stream, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.NewStream(ctx, method, first, closeSend)
}

// Notify sends a notification on the plugin's current session.
func (c *Client) Notify(ctx context.Context, method uint64, m plexus.Marshaler) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.Notify(ctx, method, m)
}

// Session returns the current session (for GoAway, Done and the like), or
// nil while the plugin is not running.
func (c *Client) Session() *session.Session {
	if in := c.cur.Load(); in != nil {
		return in.sess
	}
	return nil
}

// Pid returns the current plugin process's ID (also its process group),
// or 0 while none runs. It is the host's child: with a wrapper that
// executes the plugin (sh -c 'exec ./plugin') the plugin's own, with one
// that forks it the wrapper's.
func (c *Client) Pid() int {
	if in := c.cur.Load(); in != nil {
		return in.pid
	}
	return 0
}

// Version returns the application version negotiated with the current
// instance, or 0.
func (c *Client) Version() uint32 {
	if in := c.cur.Load(); in != nil {
		return in.version
	}
	return 0
}

// Restarts returns how many times the plugin has been restarted.
func (c *Client) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// supervise watches the live instance; when it dies (its control socket
// closed, or it stopped answering keepalive pings) it is killed with its
// group, its resources released, and it is restarted as the policy says.
func (c *Client) supervise(in *instance) {
	defer c.sup.Done()
	p := c.cfg.Restart
	failures := 0
	for {
		select {
		case <-in.sess.Done():
		case <-in.exited:
		case <-c.closing:
			return
		}
		c.mu.Lock()
		c.deaths++
		c.setCurrentLocked(nil)
		c.mu.Unlock()
		in.kill()
		cause := in.sess.Err()
		fields := []any{"pid", in.pid, "link", cause, "process", in.exitText()}
		if tail := in.tail.text(""); tail != "" {
			// Plain stderr lines are Debug entries: the last ones may
			// be the only account of the death at this level.
			fields = append(fields, "stderr", strings.TrimPrefix(strings.ReplaceAll(tail, "\n\t", "\n"), "\n"))
		}
		c.log.Error("plugin died", fields...)
		c.setLastExit(in.exitErr(false, cause))
		if time.Since(in.started) >= p.StableAfter {
			failures = 0
		}
		for {
			if failures >= p.MaxRestarts {
				c.setFinal(plexus.WithCause(plexus.Unavailable, cause, fmt.Sprintf(
					"host: plugin %s died (%v; %v) and its restart policy allows no further restart",
					c.cfg.Name, cause, in.exitText())))
				c.mu.Lock()
				last := c.lastExit
				c.mu.Unlock()
				c.ended(last)
				return
			}
			wait := p.backoff(failures)
			failures++
			select {
			case <-time.After(wait):
			case <-c.closing:
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.closing:
					cancel()
				case <-ctx.Done():
				}
			}()
			next, err := startInstance(ctx, &c.cfg, c.std)
			cancel()
			if err != nil {
				select {
				case <-c.closing:
					return // not a failure: Close stopped it
				default:
				}
				c.log.Error("plugin restart failed", "attempt", failures, "error", err)
				c.setLastExit(err)
				continue
			}
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				next.kill()
				return
			}
			c.restarts++
			c.starts++
			c.setCurrentLocked(next)
			c.mu.Unlock()
			c.log.Info("plugin restarted", "pid", next.pid, "attempt", failures)
			in = next
			break
		}
	}
}

// Close ends the plugin gracefully (see Config.GracePeriod): GoAway and
// drain, then the plugin exits; if it does not, SIGTERM, and after the
// grace period SIGKILL of its whole process group. Calls made afterwards
// fail with LinkClosed. Close is idempotent and waits until the process
// and its output are gone.
func (c *Client) Close() error {
	c.shut(func(in *instance) { in.stop(c.cfg.GracePeriod) })
	return nil
}

// Kill ends the plugin at once (SIGKILL to its process group) without a
// restart. Calls in flight fail with PeerDied.
func (c *Client) Kill() { c.shut((*instance).kill) }

// setLastExit records how the last instance ended, for ExitErr.
func (c *Client) setLastExit(err error) {
	c.mu.Lock()
	c.lastExit = err
	c.mu.Unlock()
}

// shut is Close and Kill, which differ only in how they end the live
// instance (end). The first call marks the client closed, waits for the
// supervisor and a Start in progress to stop (so that no restart can
// follow), ends the instance, unregisters the client and closes Exited;
// any later call waits for the first to finish.
func (c *Client) shut(end func(*instance)) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	c.notifyLocked()
	close(c.closing)
	c.mu.Unlock()
	c.sup.Wait()
	if in := c.cur.Swap(nil); in != nil {
		end(in)
		c.ended(in.exitErr(true, nil))
	} else {
		c.mu.Lock()
		last := c.lastExit
		c.mu.Unlock()
		c.ended(last) // nil if no plugin ever ran
	}
	unregister(c)
	close(c.done)
}
