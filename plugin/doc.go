// Package plugin is what a plexus plugin binary calls: Serve (or Run)
// registers the plugin's service implementations, opens the link its host
// passed it (the PLEXUS_PLUGIN environment variable and inherited
// descriptors), runs the handshake on the control socket, and serves the
// host's calls until the host closes the link. Host and plugin compare
// their service descriptions (plexus.ServiceDesc) at link time: the
// plugin's services against what the host expects, and the host services
// the plugin declares it calls (ServeConfig.HostServices) against what
// the host serves; either difference fails the host's Start, naming the
// service and the method, and both signature hashes when they differ. A
// plugin that declares host services refuses to link with a host too old
// to check them (one that speaks link protocol 2 only), saying so.
//
// A program started by hand rather than by a host gets ErrNotPlugin from
// Run; Serve prints a message saying so and exits with ExitNotPlugin,
// unless ServeConfig.Listener is set (plugin/pluginnet.Listen): it then
// serves hosts that attach to it there (host.Config.Attach), at a Unix
// socket or over TCP with TLS, each host on a link of its own, until
// SIGTERM or SIGINT. The link a host
// passes is shared memory on Linux by default, or a stream socket
// (host.LinkSocket, and on macOS, FreeBSD and Windows); the plugin opens
// whichever the handshake variable names.
//
// Lifetime: one Run per process. Run returns nil after the host closed the
// link gracefully (host.Client.Close); the host kills the plugin's process
// group afterwards, so a plugin should not rely on doing long work after
// Run returns. When the host dies instead, the plugin notices at once
// (end of file on the control socket, and, when the host is its parent,
// the parent-death signal, SIGTERM, set by this package's init on the
// startup thread, which never exits, or failing that from a locked OS
// thread that stays alive), and, if it is in the process group its host made for it
// (a plexus host starts it so), kills that group with SIGKILL, itself and
// its children included: no orphans. (Run therefore has SIGPIPE
// notified, so that a write to the dead host's stdout or stderr pipe
// fails with EPIPE rather than ending the plugin before it has done so.)
// A plugin outside that group returns a PeerDied status instead. A
// SIGTERM while the link stays up (not the host's death, which ends the
// link within moments) makes Run drain the link and return nil.
//
// Who may start it: Run first checks that the host named by the link
// (its process ID) is the plugin's parent, or an ancestor: a wrapper that
// executes the plugin (sh -c 'exec ./plugin') leaves the host its parent;
// one that forks it and waits for it stands between them, and the host's
// death then shows as the end of the control socket only (the
// parent-death signal would tell of the wrapper's). A plugin whose host
// has exited already ends as on the host's death. One whose host is alive
// but not an ancestor (a wrapper ran it in the background, or detached
// it) refuses to start: it logs why, in words for its author, and sends
// the same as its handshake answer, so that the host's Start fails with
// them; Run returns a FailedPrecondition status.
//
// Concurrency: handlers run concurrently, one goroutine per call (see
// package session). OnLink runs once, as soon as the session exists, and
// before any handler: calls that arrive earlier wait until it returns (so
// what it stores is there for them, without further synchronisation),
// which also means it must not wait for a call of the host. The session it
// receives may be used from any goroutine to call the host's services
// (callbacks on the same link).
//
// Logging: Logger returns an hclog logger writing JSON lines to stderr,
// which the host forwards into its own logger with levels and fields
// intact; plain lines on stdout and stderr are forwarded too. When Run
// fails, Serve prints the error as one line starting "plugin: " on
// stderr; the host quotes a failed start's last stderr lines in its
// error. The end of the link after the host's shutdown notice (a normal
// host.Client.Close) is logged as that, not as PEER_DIED.
package plugin
