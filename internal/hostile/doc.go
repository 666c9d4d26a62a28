// Package hostile is the hostile-peer test suite (issue 12): a plugin that
// attacks its host, and a host that attacks its plugin, through everything
// the other side can write: the shared segment (rings, descriptors, both
// slot pools, the header, the doorbell counters), the control socket
// (garbage, descriptors of every type, sparse and short memfds, descriptor
// floods) and the protocol (floods of notifications, channels and pings,
// data beyond credit, values changed after they were validated). The
// package has no API: everything is in its tests.
//
// Every party is a real process: the test binary re-executes itself in a
// role chosen by the environment variable PLEXUS_HOSTILE_ROLE.
//
//   - "host": the host under test, using the public host package. It
//     starts an honest plugin and, for each attack, a fresh hostile plugin;
//     keeps calling the honest plugin (1 s deadline per call) while the
//     attack runs; waits (bounded) for the hostile link to end; makes a
//     call on it afterwards; closes it; and measures its own goroutines,
//     threads, descriptors, memfd mappings and memory against a baseline
//     taken before the hostile plugin started. It prints one JSON report
//     per attack on stdout ("REPORT {...}"). TestHostilePlugin runs it,
//     restarting it after a crash or a hang (which fail that attack, with
//     the process's stderr), and asserts on the reports, one subtest per
//     attack.
//   - "hostile-plugin": started by the host like any plugin. It keeps raw
//     copies of its link descriptors, runs the handshake, and drives the
//     link by hand (peer: shm.Endpoint plus a writable mapping of the
//     segment, raw doorbells and the raw control socket): it answers the
//     host's first calls honestly, then runs the attack named by
//     PLEXUS_HOSTILE_ATTACK. It tells the host role how the attack goes
//     through lines on its stdout, which the host forwards into its log.
//   - "victim-plugin": an honest plugin (plugin.Serve) serving the suite's
//     target service (target_linux_test.go) and the generated kvtest
//     Store; the host's second plugin, and the hostile host's victim.
//   - "hostile-host": builds each link itself (segment, socketpair,
//     handshake), starts a victim plugin on it and attacks it with the same
//     attack functions; it reports how the plugin ended (exit code, stderr,
//     time, its resources from /proc). TestHostileHost asserts on that.
//
// The attacks on the ten points of the issue are named P1_... to P10_...
// (attacks_points_linux_test.go); the others by what they attack (Ring_,
// Desc_, Pool_, Header_, Doorbell_, Ctl_, Proto_, Kill9_, HostDies_).
//
// Run one attack by hand (the report, with the host's log, is printed on
// failure or with -v):
//
//	go test -v -run 'TestHostilePlugin/P3_' ./internal/hostile/
//	go test -v -run 'TestHostileHost/P1_' ./internal/hostile/
//
// The second level of -run selects attacks before any process is started.
// A role can also run by itself, printing its reports:
//
//	go test -c -o /tmp/hostile.test ./internal/hostile/
//	PLEXUS_HOSTILE_ROLE=host PLEXUS_HOSTILE_ATTACKS=P7_ChannelFlood /tmp/hostile.test
//
// PLEXUS_HOSTILE_LOG=1 copies the host role's log to its stderr, and
// PLEXUS_HOSTILE_GDUMP=N makes it dump its goroutines once their number
// passes N.
//
// Lifetime and concurrency: each test runs its role processes one after
// another, and each role process runs its attacks one at a time, each with
// a fresh attacker or victim and its own baseline. Every wait is bounded;
// a role process that exceeds its bound is killed with its process group.
package hostile
