package host

import (
	"time"

	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// ClientStats is a snapshot of one Client, for inspection (Client.Stats,
// the document ServeInspect serves, plexus inspect). Its JSON form is
// that document's, version 1: fields may be added, none renamed.
type ClientStats struct {
	Name string `json:"name"`
	// Pid is the plugin's process (the host's child), 0 while none runs
	// and for an attached plugin, whose address is in Attached.
	Pid      int    `json:"pid"`
	Attached string `json:"attached,omitempty"`
	// Link is "shared memory" or "socket" (Config.Link after defaults).
	Link string `json:"link"`
	// State is "running", "restarting" (the instance died and the
	// policy allows another), "not started", "ended" (no instance and
	// none to come: a failed Start, or the last restart used up) or
	// "closed" (Close or Kill).
	State string `json:"state"`
	// Version is the application version of the current instance.
	Version uint32 `json:"version,omitempty"`
	// Started is when the current instance started, Uptime how long ago
	// (zero while none runs).
	Started time.Time     `json:"started,omitzero"`
	Uptime  time.Duration `json:"uptime_ns"`
	// Starts counts instances started (the first and each restart),
	// Restarts the restarts among them, Deaths the instances that ended
	// unasked (died, stopped answering keepalive, or, attached, lost the
	// link).
	Starts   int `json:"starts"`
	Restarts int `json:"restarts"`
	Deaths   int `json:"deaths"`
	// LastError is how the last instance ended or why the last start
	// failed (what ExitErr would say), empty if nothing did.
	LastError string `json:"last_error,omitempty"`
	// Session is the current instance's session, nil while none runs.
	Session *session.Stats `json:"session,omitempty"`
	// SharedMemory is the current instance's shared-memory link, nil on
	// a socket link and while none runs.
	SharedMemory *shmlink.Stats `json:"shared_memory,omitempty"`
}

// shmStatser is a transport with shared-memory figures: on Linux, the
// shared-memory link's (*shmlink.Transport); elsewhere no transport has
// them, and the assertion fails.
type shmStatser interface{ Stats() shmlink.Stats }

// Stats returns a snapshot of the client and its current instance. It is
// read-only and safe to call from any goroutine, concurrently with calls
// and at any point of the client's life (before Start, during a restart,
// after Close). It does not wait for the plugin: every figure is this
// process's own or read from the link's shared memory, so a plugin that
// is stuck or busy does not delay it, and it costs the link's traffic
// nothing beyond what Session.Stats and shmlink's Stats say they cost.
func (c *Client) Stats() ClientStats {
	st := ClientStats{Name: c.cfg.Name, Link: c.cfg.Link.String()}
	c.mu.Lock()
	st.Starts, st.Restarts, st.Deaths = c.starts, c.restarts, c.deaths
	last, closed, final, started := c.lastExit, c.closed, c.final, c.started
	c.mu.Unlock()
	if last == nil {
		last = c.ExitErr() // a failed first Start sets only that
	}
	if last != nil {
		st.LastError = last.Error()
	}
	if a := c.cfg.Attach; a != nil {
		st.Attached = a.Network + ":" + a.Address
	}
	in := c.cur.Load()
	switch {
	case closed:
		st.State = "closed"
	case alive(in):
		st.State = "running"
	case final != nil:
		st.State = "ended"
	case !started:
		st.State = "not started"
	default:
		st.State = "restarting"
	}
	if in == nil {
		return st
	}
	// An instance's fields are written before it becomes current and not
	// after; its session and transport answer for their own safety.
	st.Pid, st.Version = in.pid, in.version
	if alive(in) {
		st.Started, st.Uptime = in.started, time.Since(in.started)
	}
	ss := in.sess.Stats()
	st.Session = &ss
	if t, ok := in.tr.(shmStatser); ok {
		ts := t.Stats()
		st.SharedMemory = &ts
	}
	return st
}
