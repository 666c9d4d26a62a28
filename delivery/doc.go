// Package delivery sends acknowledged notifications: at-least-once
// delivery, effectively once at the handler.
//
// A plain notification (session.Conn.Notify) is fire-and-forget: when the
// peer dies before handling it, it is lost, and nothing says so. A Sender
// instead keeps each message until the receiving side acknowledges it,
// and resends it after a failure (the peer died, the link ended, the
// acknowledgement did not come within SenderConfig.AckTimeout); the
// receiving side remembers the IDs of the messages it handled (a Store,
// by default a bounded in-memory window of recent IDs) and acknowledges a
// resent one without handling it again.
//
// Wire form: an acknowledged notification is a unary call of the reserved
// method DeliverMethod ("plexus.Delivery", "Deliver") whose request is the
// notification's encoded message, unchanged, and whose metadata carries
// the message's ID (MetadataID) and the notification's method ID in hex
// (MetadataMethod). The receiving side's Deliver handler (Service or
// Register) looks the notification's handler up on its own Mux
// (session.Mux.Notification), so acknowledged delivery works with any
// notification the receiving side registered, generated or by hand, and
// the empty response is the acknowledgement: it is sent once the handler
// has returned. A host requires it of a plugin at link time by listing
// ServiceDesc among the services it expects.
//
// Guarantees and their limits: a message is handled at least once, unless
// the Sender gives up on it (SenderConfig.MaxAge, Close), which its Receipt
// says. It is handled at most once as long as the receiving side
// remembers its ID: within the Store's window (by default 65,536 IDs and
// 10 minutes; a resend comes within seconds), and, with the default
// in-memory Store, within one process. A plugin that must not handle a
// message twice across its own restarts makes the handler's effect and
// the record of its ID one act: the handler stores MessageID(ctx) with its
// effect (in the same transaction, or the same write), and its Store,
// loaded from those records at start, answers from memory. Messages are
// not ordered: each is sent on its own, and a resent one arrives after
// those sent later.
//
// Lifetime: a Sender lives from NewSender until Close, which waits for the
// pending messages within its context and then gives up on the rest; its
// goroutines (one per pending message, at most SenderConfig.MaxPending)
// end with it. A Sender does not own its Conn: over a host.Client, whose
// calls wait while the plugin restarts, the resent messages reach the
// restarted plugin with nothing further to do. The receiving side's state
// (its Store and the messages being handled) belongs to the Service value
// or Register call that made it, and is shared by every Mux it is
// registered on.
//
// Concurrency: a Sender, a Receipt and MemoryStore are safe for concurrent
// use. The receiving side handles messages concurrently (one unary call
// each), so a notification handler delivered this way may run on several
// goroutines at once, unlike plain notifications, which one goroutine
// handles in arrival order; a message and its resends are handled one at
// a time: a resend that arrives while the first is still handled waits
// for it and is then acknowledged. The receiving side calls a Store's
// methods one at a time.
package delivery
