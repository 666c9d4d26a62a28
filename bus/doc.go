// Package bus is the transport-independent core of plexus's
// publish/subscribe: subjects and patterns, a matcher, fan-out and queue
// groups, bounded per-subscription buffers with overflow policies,
// history for late subscribers, and payload ownership. It knows nothing
// of processes or links; a later layer feeds a plugin's subscription
// from Subscription.TakeBatch (or Next) into a session stream, and maps
// the plugin's death to Subscription.Kill.
//
// Subjects are tokens separated by '.' ("sensor.kitchen.temp"), at most
// MaxSubjectLen bytes and MaxTokens tokens, without spaces or control
// bytes. A pattern may also use "*" for exactly one token and ">" for
// one or more trailing tokens (last token only); publishers use concrete
// subjects. A token trie (sublist.go, after NATS's sublist) finds the
// subscriptions matching a subject without scanning them all.
//
// Publish caches each concrete subject's route (routecache.go): the
// matching subscriptions, sorted, split into fan-out ones and groups,
// for at most 256 subjects, emptied wholesale when full. Every subscribe
// and every end of a subscription empties it, under the Bus's mutex that
// Publish routes under, so a cached route is never stale; a publish on a
// subject already seen routes without walking the trie, sorting or
// allocating (unless a Block subscription is full and it must wait).
//
// # Delivery
//
// Publish routes a message to every matching subscription without a
// queue group (fan-out) and to one member of each matching queue group
// (SubOptions.Queue: the members sharing the name whose patterns match).
// A group picks round-robin or least-loaded (fewest messages held,
// buffered or in flight); its first member's SubOptions.QueuePolicy sets
// it, else Config.QueuePolicy, and a later member asking another policy
// is refused. A member with room is preferred to a full one; when all
// are full, the picked member's overflow policy applies. A publisher
// that Block makes wait for a group waits for room in any of its
// matching members (or a new one), then picks again: a member that
// stalls full holds it only while every other member is full too.
//
// Each subscription holds at most SubOptions.Buffer messages, drained by
// its consumer with Next (or Consume, or TakeBatch); for a queue member,
// messages taken and not yet Done (in flight) count too. When a message
// arrives at a full subscription, its Overflow policy decides: Block
// makes the publisher wait for room within the publisher's context,
// DropOldest drops the oldest buffered message, DropNewest the arriving
// one, End ends the subscription with RESOURCE_EXHAUSTED. Publish first
// gives the message to every subscription that can take it without
// waiting, then waits for the full Block ones: a slow subscriber delays
// its publishers (Block), or loses messages (the others), but never
// delays another subscriber's delivery.
//
// Guarantees:
//
//   - Fan-out is at most once: a message reaches a subscription once, or
//     not at all (overflow, the publisher giving up, the subscription
//     ending with it buffered).
//   - A queue group is exactly once while a member lives: one member
//     takes each message; when a member ends (Unsubscribe, its context,
//     Kill, End) the messages it held, in flight ones first in the order
//     taken, then buffered ones, are handed to the remaining matching
//     members (Delivery.Redelivered), and its stale deliveries' Done
//     fails, so each message is Done at most once. A redelivery never
//     waits and never ends a member: it goes to a member with room, else
//     to a Block member below twice its Buffer (the group's total does
//     not grow, the messages only move), else the picked member's policy
//     drops one (End acting as DropNewest); a message no member takes is
//     dropped and counted in Stats.Orphaned. When Close ends the members
//     their messages are dropped.
//   - Order: every subscription receives the messages that entered its
//     buffer without waiting in the order Publish accepted them (their
//     Delivery.Seq increases), the same order for all subscriptions; a
//     message that waited for room (Block) may come after later ones
//     from other publishers, so the order promised with Block is per
//     publisher per subscription. Redeliveries come after what the
//     member already held.
//
// TakeBatch moves up to len(ds) buffered messages into the caller's
// slice, oldest first, under one lock and without allocating; Wait waits
// for one (or the end) without taking it. Each ds[i] filled is a
// delivery as Next's, Done on &ds[i]; TakeBatch overwrites ds[i], so the
// caller reuses a slot only once it has finished with what it held
// (Done, or given up: a queue member's given-up message stays in flight
// until the member ends). Deliveries are not copied, only filled in
// place. A queue member keys its in-flight messages by take order, not
// by the Delivery's address, so a reused slot does not confuse them.
//
// A fan-out subscription may have a Sink (SetSink): Publish hands it each
// message as it routes it, on the publisher's goroutine, instead of
// buffering it, for a consumer that only copies each message somewhere
// (bus/buslink encodes it into the batch it will send a plugin). The
// sink holds only messages older than the buffer's (it is offered none
// while anything is buffered), what it holds counts against Buffer until
// its consumer takes them (TakeSunk), and a message that every matching sink
// took costs no allocation: the bus makes a message's shared envelope
// only when something keeps a reference to it.
//
// History: Config.History (or the first matching Config.HistoryRules
// entry) keeps the last N messages of each concrete subject, for at most
// Config.HistorySubjects subjects (the one published to least recently
// is forgotten first). A subscription with SubOptions.History gets, before
// any live message, the last History retained messages of each subject
// its pattern matches, merged in publish order across subjects (so as if
// it had subscribed earlier), at most Buffer of them, the newest
// (Delivery.Replayed). Subscribe snapshots the history and joins the
// matcher under the lock that Publish holds to record and route, so
// between history and live messages there is no gap and no duplicate.
//
// # Payloads
//
// Publish takes ownership of its Message. A message is shared, not
// copied, among its deliveries and its history entry, each holding a
// reference; Message.Payload, if set, is released exactly once, when the
// last reference goes: every delivery Done or dropped (overflow, a
// subscription ending with it buffered, a Block wait given up, an
// orphan, Close) and its history entry evicted (by newer messages, the
// subject bound, or Close). A Publish that fails releases it too.
// Release is never called with a lock of the bus held.
//
// # Lifetime
//
// A Bus lives from New to Close. Close ends every subscription with
// UNAVAILABLE and drops their buffers and the history; Publish and
// Subscribe then fail with UNAVAILABLE. A subscription lives until
// Unsubscribe (CANCELED; idempotent), its context ends (CANCELED or
// DEADLINE_EXCEEDED), Kill (the given status, ABORTED if nil), its End
// policy (RESOURCE_EXHAUSTED), or Close. Once it has ended, Next returns
// that status at once (TakeBatch 0 and it, Wait nil) and Err holds it.
// A fan-out delivery taken before the end stays valid and is released by
// its Done; a queue member's is redelivered elsewhere and its Done fails.
// The bus starts no goroutines: Publish, Next and Wait wait on the
// caller's goroutine, and a subscription's context is watched with
// context.AfterFunc, stopped when the subscription ends.
//
// # Concurrency
//
// Every method of Bus, Subscription and Delivery is safe for concurrent
// use. Publish may block only on a full Block subscription (or group),
// and only within its context; Next and Wait wait for a message within
// their context; nothing else waits except for the locks. Locks: the
// Bus's mutex guards the matcher and its route cache, the groups, the
// history and the publish sequence, and is taken before a Subscription's
// mutex (its buffer, in flight set and counters, and its Sink's Put); at
// most one
// Subscription's mutex is held at a time. Next, TryNext, TakeBatch, Wait
// and Done take only their subscription's mutex, so consumers do not
// contend with each other; Publish, Subscribe and the ends of
// subscriptions serialize on the Bus's mutex, which Publish releases
// before it waits for room. The slice given to TakeBatch is the
// caller's, not guarded: one goroutine fills and reads it at a time, and
// Done on &ds[i] must not race with a TakeBatch refilling ds[i].
package bus
