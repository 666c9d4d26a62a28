// Package natsbridge forwards chosen subjects of a plexus bus (package
// bus: the host's publish/subscribe, which its plugins reach through
// bus/buslink) to and from NATS, so that the topics of plugins on one
// machine reach plugins of hosts on others. plexus grows no network
// broker of its own: NATS is the engine, and this package only maps one
// to the other. It is a module of its own, so that the core module does
// not depend on nats.go.
//
// # Routes
//
// Export routes name the local subjects the bridge publishes to NATS:
// every message published on the local bus whose subject matches (by the
// host or by any of its plugins) is published on NATS under the same
// subject, with its header. Import routes name the NATS subjects the
// bridge publishes on the local bus. Subjects and patterns are the same
// on both sides (tokens separated by '.', '*' for one token, '>' for the
// rest).
//
// A message crosses once: the bridge marks what it publishes on either
// side with its own identity (header OriginHeader), does not export a
// message it imported, and does not import a message it exported. So with
// the same routes on every host, an event published on one host reaches
// every subscriber of every host exactly once (while NATS and the bridges
// are up).
//
// An import route with a Queue is a NATS queue subscription: each NATS
// message goes to one bridge of the queue group, which publishes it on
// its local bus, where a local queue group (bus.SubOptions.Queue) hands it
// to one member. That spreads work over the consumers of every host. Such
// an import takes the messages its own bridge exported too (the group
// spans hosts), so it needs a Prefix: the local subject is Prefix + "." +
// the NATS subject, and local consumers subscribe to the prefixed subject,
// which no local publisher uses; a consumer that subscribed to the
// producers' own subject would also get each message straight from the
// local bus, and so twice.
//
// # When NATS goes away
//
// Local delivery never depends on NATS. While the connection is down,
// nats.go keeps what the bridge exports in its reconnect buffer
// (nats.ReconnectBufSize, 8 MiB by default) and sends it when the
// connection is back; what does not fit is dropped and counted
// (Stats.ExportDropped). Messages other hosts publish on NATS meanwhile
// do not reach this host, nor do those another bridge sends after its
// own reconnection but before this one's subscriptions are back: core
// NATS keeps nothing for a subscriber that is away (JetStream would; it
// is not used). When the connection comes
// back, nats.go subscribes again by itself and imports resume. The
// bridge's own connection options (reconnects, waits, buffer) are the
// caller's: the bridge uses the *nats.Conn it is given and never closes
// it.
//
// # Lifetime and concurrency
//
// New starts one goroutine per export route (it drains a subscription of
// the local bus and publishes on NATS) and one NATS subscription per
// import route (nats.go runs its callbacks one at a time per
// subscription, in order). Close ends them and waits for the export
// goroutines; it is idempotent. Stats is safe at any time. A Bridge is
// safe for concurrent use.
package natsbridge
