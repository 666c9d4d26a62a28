// Package buslink makes a bus.Bus reachable across a plexus link, over
// every transport: the host holds the bus and serves it (Register on
// host.Config.HostServices, which every plugin of the host reaches), and
// plugins publish and subscribe through a Client over the session.Conn
// they are given (plugin.ServeConfig.OnLink). Plugins never link to each
// other: a message a plugin publishes reaches the subscribers in the host
// (which uses the bus directly) and in the other plugins through the
// host's bus.
//
// # Wire form
//
// The reserved service ServiceName ("plexus.Bus"), described by
// ServiceDesc (signature hashes that change with the wire form; a plugin
// declares it in plugin.ServeConfig.HostServices and is refused at link
// time by a host serving another form). Messages are MessagePack arrays
// (package codec), every one read from the peer checked: lengths and
// counts before allocation, subjects and patterns (bus.ValidateSubject,
// bus.ValidatePattern), headers against the metadata limits, enums,
// tags against those sent.
//
//   - Publish (/2), unary: [subject, header, data, type] -> [delivered,
//     dropped]; type is bus.Message.Type (0: untyped; see bus's typed
//     topics: VERSION_MISMATCH when a subject carries another type).
//   - PublishAsync (/2), notification: [subject, header, data, type].
//   - PublishLarge (/2), client stream: the OPEN carries [subject,
//     header, size, type], the next message is the data alone (size bytes,
//     more than zero), and the host answers [delivered, dropped] and
//     ends the call; the caller does not CloseSend (its window is spent
//     by the data until the host's bus releases it).
//   - Subscribe (/5), bidirectional stream: the OPEN carries [pattern,
//     queue, policy, buffer, overflow, history, type] (bus.SubOptions;
//     Buffer at most the host's Config.MaxBuffer; a typed subscription
//     is refused with VERSION_MISMATCH as on the bus); the host answers
//     [subscription ID] once the bus subscription exists, then sends
//     the deliveries in batches: [first tag, [record, ...]], 1 to
//     MaxBatch records, each [seq, subject, header, data, flags, size];
//     tags number the stream's deliveries from 1 (the i-th record's is
//     the first tag plus i), each batch's first following the last
//     tag before it; flags 1 is redelivered, 2 replayed, 4 large: data
//     is empty and the data, of size bytes (more than zero; size is 0
//     without the flag), is the stream's next message, alone; only a
//     batch's last record may be large. A queue member sends back acks
//     [upTo, tags]: every tag up to upTo, and each of tags. Closing its
//     side (CloseSend) unsubscribes; the host then ends the stream OK.
//
// # Large messages
//
// Data longer than LargeData travels as a message of its own, alone in
// its frame (plexus.Raw), so that it reaches the transport as it is: on
// shared memory, bytes in sealed memory (transport/shmlink) are sent by
// reference, naming the same memfd, and the receiver reads them in
// place (DESIGN.md "Sealed memory and fan-out without copies"). A
// message fanned out from the host to N plugins is then copied once in
// all, by whoever sealed it:
//
//   - the host: buslink.Sealed(data) seals it (shmlink.Seal; the
//     message's Payload releases it after the last delivery), its
//     subscribers read it in place, and each pump sends the same pages;
//   - a plugin: Client.Publish seals it (the conn's Seal, which a
//     *session.Session has) and sends it by PublishLarge; the host's
//     handler receives it as a view (a *session.Lease of a one-shot
//     blob, which the host's transport may send again by reference) and
//     publishes that view, released after the last delivery.
//
// A subscriber receives large data as a view of its frame
// (Delivery.Data, valid until Done, which releases it on a goroutine of
// its own: on shared memory the process that drops a memfd's last
// mapping frees its pages then, 1.5 ms for 16 MiB, which the consumer
// need not wait for). The frame holds the stream's flow-control window
// until it is released: after a large one of SubscribeWindow (256 KiB)
// or more, the next delivery of that subscription waits for its release,
// and the host's bus buffer takes the rest, as for a slow consumer. A
// subscriber killed while holding large messages gives them back with
// its memory: the kernel frees a memfd with its last mapping and
// descriptor. PublishAsync sends large data in its notification, as
// before (copied): a stream would not keep its order with the link's
// other notifications.
//
// # Delivery semantics
//
// A fan-out subscription's messages are encoded as the bus routes them,
// on the publisher's goroutine, into the batch being built (the pump's
// bus.Sink, sink.go; not for DropOldest, which must find its oldest
// messages in the bus buffer, nor for data over 4 KiB, which the pump
// encodes): a stream of small messages then costs the host one
// encoding each, and the pump one send per batch. The bus counts what
// the sink holds against the subscription's Buffer until the pump has
// sent it, so the overflow policy applies to it as to buffered messages
// (DropOldest aside, which is why it has no sink). The host's pump sends
// the sink's batches, then takes what the bus subscription buffered (up
// to MaxBatch; bus.Subscription.SetSink gives the order), only when the
// previous batch is in the stream, and the
// stream sends only within its flow-control window, which the subscriber
// gives back as it receives; its reader receives the next batch only
// while fewer than MaxBatch deliveries and 16 KiB of data wait for Next.
// So a slow remote subscriber fills its bus buffer as a local one would,
// and the bus's overflow policy applies to it: Block holds the
// publishers, DropOldest and DropNewest drop on the host, End ends it
// (Next then returns RESOURCE_EXHAUSTED, after what a fan-out
// subscription had received). What the link holds beyond the bus buffer
// is bounded by the stream's window (SubscribeWindow) and one batch in the
// client, beyond what waits for Next.
//
//   - Fan-out: a delivery is Done on the bus once it has been sent (its
//     bytes are copied into the stream, or, sealed, referenced by the
//     frame), so the payload is released then;
//     at most once, as on the bus: what is in the stream when the link
//     dies is lost.
//   - Queue groups: a delivery stays in flight on the bus until the
//     subscriber acknowledges it (Delivery.Done, batched). When the
//     subscription ends otherwise than cleanly (the plugin's death, which
//     ends the link and cancels the handler's context; ctx's end; an
//     overflow End), the bus hands every unacknowledged message to the
//     remaining members (Redelivered). So while members live each message
//     is processed and acknowledged by exactly one member; when one dies,
//     nothing is lost, and a message it had processed but whose ack had
//     not reached the host is processed again by another member: processing
//     is at least once across a death, acknowledgement exactly once (the
//     bus accepts one Done per message; a stale one fails).
//   - Unsubscribe sends the acks of what was Done before it, then ends the
//     stream; what was not Done goes to the rest of the group.
//   - Order: as the bus's, per subscription, since one stream carries it.
//
// # Lifetime
//
// Register's service lives as long as the Mux that serves it; each
// Subscribe stream holds one bus subscription, made with the handler's
// context, and ends with it: Unsubscribe (OK on the host, CANCELED on
// the client), the caller's ctx or Close, the link's death (the handler's
// context is cancelled and the subscription ends with CANCELED, its
// queue messages redelivered), the bus's Close (UNAVAILABLE), the
// host's session going away (session.Session.GoingAway: GoAway, or Drain,
// which host.Client.Close does; UNAVAILABLE, queue messages redelivered,
// so that a closing host is not held open until its grace period by
// subscriptions that never end on their own) and overflow End
// (RESOURCE_EXHAUSTED), which the client's Next then returns. The
// handler's goroutine pumps, one more reads the acks, and one waits for
// the session's GoingAway, until the call ends. On the client side a Subscription holds one
// goroutine (two for a queue member) until it ends: call Unsubscribe, or
// end Subscribe's context.
//
// A Subscription belongs to one link and does not outlive it: over a
// host.Client, whose plugin may be restarted, or in a plugin, whose host
// link is new after each restart, subscribe again once linked (a plugin
// does so from plugin.ServeConfig.OnLink, in a goroutine: OnLink must not
// wait for a call of the host). Messages published while no subscription
// existed are not replayed unless the bus keeps history and the new
// subscription asks for it.
//
// # Concurrency
//
// Client, Subscription and Delivery are safe for concurrent use: several
// goroutines may call Next, and Done may be called from any goroutine.
// A PublishAsync whose bus Publish waits (a full Block subscriber)
// delays the link's later notifications, which one goroutine handles in
// order; a slow Block subscriber slows its publishers, remote ones too,
// within their contexts: a remote Publish whose deadline passes while it
// waits returns DEADLINE_EXCEEDED and no result (the bus counted the
// subscriptions it could not reach as Dropped).
package buslink
