// Package plexustest serves plexus services in-process for unit tests: one
// call connects a client to an implementation through a real session pair
// (transport/inproc), so that a test exercises the generated client, the
// codec, the registration and the handler as a plugin would, without
// building or starting a plugin process. It is plexus's equivalent of
// go-plugin's TestPluginGRPCConn.
//
//	func TestGreet(t *testing.T) {
//		conn := plexustest.Pair(t, greeter.NewGreeterService(impl{}))
//		got, err := greeter.NewGreeterClient(conn).Greet(ctx, "world")
//		...
//	}
//
// Connect is the longer form: host services that the plugin's handlers call
// back (host.Config.HostServices in a real host), and an OnLink run before
// any handler, as plugin.ServeConfig.OnLink is. Start is Connect for code
// without a testing.TB (TestMain, examples): the caller closes the Link.
//
// The two ends are the roles of a real link: Link.Host is the initiator
// (the host's side, which calls Services and serves HostServices) and
// Link.Plugin the acceptor (which serves Services and calls
// HostServices). Services are registered as plugin.Run registers them
// (plugin.NewMux), with the same checks; there is no handshake, since both
// ends are built from the same code. Keepalive is off on both ends: an
// in-process peer cannot vanish unnoticed, and a ping that times out on a
// loaded test machine would only make tests flaky.
//
// Lifetime: Pair and Connect close both sessions in t.Cleanup, after the
// test and its subtests have finished; Start's Link lives until its Close.
// Closing ends both sessions at once (session.Session.Close): the host's
// calls still in flight fail with LINK_CLOSED and every handler's context
// is cancelled. Close does not wait for handlers to return, so a handler
// that ignores its context may outlive the test. The sessions log warnings to
// the test's log (t.Logf) until the cleanup has run, and nothing after it.
//
// Concurrency: Pair, Connect and Start may be called from parallel tests;
// Pair and Connect must be called from the test's own goroutine (they call
// t.Fatalf when the services do not register). The sessions they return
// are safe for concurrent use under package session's rules (any number
// of goroutines calling, a Stream used by one sender and one receiver);
// handlers run concurrently, one goroutine per call, as in a plugin.
// Link.Close is safe to call more than once and from any goroutine.
package plexustest
