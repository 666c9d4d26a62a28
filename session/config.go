package session

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
)

// Role decides which channel IDs this side opens: the initiator (the host)
// odd ones, the acceptor (the plugin) even ones.
type Role int

const (
	Initiator Role = 1
	Acceptor  Role = 2
)

// owns reports whether channel id is one that side r opens.
func (r Role) owns(id uint64) bool {
	return (id&1 == 1) == (r == Initiator)
}

// Windows that both sides assume before any CREDIT frame: a side that wants
// larger windows grants the difference, so no negotiation is needed.
const (
	DefaultChannelWindow = 64 << 10
	DefaultLinkWindow    = 1 << 20
)

// Config configures a session.
type Config struct {
	Role Role
	// Mux serves calls the peer makes; nil serves none (every call gets
	// UNIMPLEMENTED).
	Mux *Mux
	// ChannelWindow is the receive window per channel in bytes (at least
	// DefaultChannelWindow), LinkWindow the window of the whole link.
	ChannelWindow int
	LinkWindow    int
	// KeepaliveIdle is how long the link may be silent before a PING is
	// sent; KeepaliveTimeout how long the answer may take before the peer
	// is declared dead. Defaults 15s and 5s; a negative KeepaliveIdle
	// disables keepalive.
	KeepaliveIdle    time.Duration
	KeepaliveTimeout time.Duration
	Logger           hclog.Logger
	// Hold, if not nil, keeps handlers from running until it is closed:
	// calls and notifications that arrive earlier are received and wait.
	// It lets the owner of a session finish setting up (give the session
	// to code the handlers use, say) before the first call is served.
	Hold <-chan struct{}
	// MaxPeerCalls bounds the handlers running at once for calls the
	// peer made. A call beyond it waits, without a goroutine, until one
	// returns, and keeps its OPEN's flow-control credit meanwhile: a peer
	// that opens calls faster than they finish is slowed by the link's
	// window, and one that sends without credit breaks the protocol (see
	// admission.go). Default DefaultMaxPeerCalls.
	MaxPeerCalls int
	// MaxQueuedNotifications bounds the notifications queued for their
	// handlers before this side stops giving the link's flow-control
	// credit back for them: beyond it, a notification's credit returns
	// only once its handler has run, so a peer that notifies faster than
	// the handlers keep up waits for credit (its other calls too: they
	// share the link's window), and one that sends without credit breaks
	// the protocol. Default DefaultMaxQueuedNotifications.
	MaxQueuedNotifications int
	// Interceptors observe and shape every call of this session, those
	// it makes and those it serves, of every shape (see Interceptor), in
	// this order. None: the call path is as without them (one
	// comparison), and a call allocates nothing for them.
	Interceptors []Interceptor
	// Peer describes the peer's services that this side calls (the
	// generated XServiceDesc values), for the names and shapes that
	// interceptors see (CallInfo) of the calls this side makes;
	// optional.
	Peer []plexus.ServiceDesc
	// Idempotency, if set, answers repeated calls of idempotent methods
	// (described so on Mux: generated code's //plexus:idempotent) that
	// carry an idempotency key with the first call's result (see
	// IdempotencyCache). One cache may serve many sessions.
	Idempotency *IdempotencyCache
}

// Defaults of the bounds on what a peer can make this side hold.
const (
	DefaultMaxPeerCalls           = 4096
	DefaultMaxQueuedNotifications = 1024
)

func (c Config) withDefaults() Config {
	if c.ChannelWindow < DefaultChannelWindow {
		c.ChannelWindow = DefaultChannelWindow
	}
	if c.LinkWindow < DefaultLinkWindow {
		c.LinkWindow = DefaultLinkWindow
	}
	// Grants travel in a 32-bit field and are at most half a window.
	c.ChannelWindow = min(c.ChannelWindow, 1<<30)
	c.LinkWindow = min(c.LinkWindow, 1<<30)
	if c.KeepaliveIdle == 0 {
		c.KeepaliveIdle = 15 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.MaxPeerCalls <= 0 {
		c.MaxPeerCalls = DefaultMaxPeerCalls
	}
	if c.MaxQueuedNotifications <= 0 {
		c.MaxQueuedNotifications = DefaultMaxQueuedNotifications
	}
	return c
}
