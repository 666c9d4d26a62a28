// Package host starts plexus plugins and talks to them: what a user of
// hashicorp/go-plugin expects (a client per plugin executable, a handshake
// cookie, versioned service sets, hclog log forwarding, a process-wide
// cleanup), plus what go-plugin lacks: the link is shared memory, the
// handshake runs on a control socket instead of stdout, plugins run in
// their own process group and die with the host, dead plugins are noticed
// at once and restarted, hung ones are caught by keepalive pings.
//
// Lifetime of a Client: New checks the Config; Start spawns the plugin
// (from a locked OS thread that lives as long as the host, so that the
// parent-death signal fires only when the host dies) with the link's
// descriptors as fds 3..8 and one environment variable (PLEXUS_PLUGIN),
// applies resource limits, runs the handshake (protocol and application
// versions, cookie, every expected method's ID and signature hash,
// limits) and starts the session. A failed start says why in its error:
// how the plugin ended ("exit status 3", in os/exec's words, the one form
// of a plugin's exit in logs and errors), its last lines on stderr
// (bounded: 20 lines, 4 KiB), a hint when the program exited without
// answering the handshake (it does not look like a plexus plugin: a
// plugin's main calls plugin.Serve), and the setting that bounded the
// wait (Config.StartTimeout) when it did not answer in time.
//
// After a successful start the client supervises the plugin: when its
// control socket closes or its life word says it is exiting (it exited or
// crashed) or it stops answering keepalive pings, every call in flight
// fails with PeerDied, the plugin's process group is killed and reaped,
// the segment released, and, if Config.Restart allows, a new instance is
// started after an exponential backoff. Close drains and stops the plugin (GoAway,
// drain, exit; SIGTERM after the grace period; SIGKILL of the process
// group after another), Kill stops it at once, and CleanupClients closes
// every client of the process. Exited is closed once the client has no
// plugin and will start none (after Close or Kill, a failed Start, or a
// death its restart policy does not cover), and ExitErr then says why. A
// Client is not reusable after Close.
//
// The plugin runs in Config.Dir with Config.Stdin as its standard input
// (none by default). Its stdout and stderr are forwarded into
// Config.Logger named after the plugin: hclog JSON lines keep their level
// and fields, plain lines are logged at Info (stdout) or Debug (stderr),
// lines of any length are forwarded (in 1 MiB pieces beyond that), and a
// Go panic or fatal error is logged as one Error entry with its stack.
// Config.Stdout and Config.Stderr, if set, receive the raw bytes as well.
// A normal Close logs no failure (nothing at Warn or Error, no PEER_DIED),
// on either side.
//
// Scheduling: Start asks the kernel for a short time slice (100 us) for
// every thread of the host's process (Config.TimeSlice; Linux 6.12 and
// later honour it), which the plugin inherits and other programs the host
// starts do too: a thread the plugin wakes then preempts a CPU-bound
// thread at once instead of waiting out its slice, which keeps calls
// fast beside busy programs. The threads' shares of the CPU do not change.
//
// Wrappers: Path may be a program that starts the plugin (Path "/bin/sh",
// Args "-c", "exec ./plugin"). One that executes the plugin leaves it the
// host's child; one that forks it and waits for it (sh -c "./plugin;
// ...") works too, the plugin being in the process group the host made
// (Pid is then the wrapper's). The plugin refuses a wrapper that detaches
// it (runs it in the background), which would leave it outside its
// host's reach, and Start fails with its reason.
//
// Links and platforms: on Linux the link is shared memory by default;
// Config.Link = LinkSocket links over an AF_UNIX stream socket the plugin
// inherits as fd 3 (the stream transport, the handshake first as
// length-prefixed messages), which is the link on macOS, FreeBSD and
// Windows (where the plugin connects back to a socket the host listens on
// in a private directory, proving itself with a nonce). There the
// parent-death signal, the ancestor walk and Config.Limits are missing
// (DESIGN.md "Platforms, the socket link and attaching"); on Windows the
// host kills only the process it started.
//
// Attach: with Config.Attach the client links to a plugin that runs
// already (plugin.ServeConfig.Listener), at a Unix socket or over TCP with
// TLS, instead of starting one. Start dials and runs the handshake; a
// link that ends unasked is dialled again as Config.Restart says; Close
// and Kill end the link and leave the plugin running; Pid is 0.
//
// Observing: Client.Stats (and Pool.Stats) reads a client's figures
// without asking the plugin anything: its process, uptime, starts,
// restarts and deaths, the last error, calls in flight and channels, and
// on shared memory the rings' fill, slot use per size class, leases and
// blobs. ServeInspect exposes them, for every live client of the process,
// to plexus inspect (DESIGN.md "Inspecting a live host");
// Config.Interceptors observe each call (see package otelplexus for
// OpenTelemetry).
//
// Concurrency: a Client is safe for concurrent use. It implements
// session.Conn: Invoke, NewStream and Notify go to the current instance;
// while a restart is pending they wait for it within their context, and
// after the last allowed restart failed they fail with Unavailable. Calls
// in flight when an instance dies are not retried (they may have run).
// A Pool spreads calls over several instances of one plugin.
package host
