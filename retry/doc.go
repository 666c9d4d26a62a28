// Package retry retries plexus calls: Conn wraps a session.Conn (a
// host.Client, a host.Pool, a *session.Session) and is one itself, so a
// generated client takes it as it takes the Conn it wraps:
//
//	conn, err := retry.NewConn(client, retry.Config{
//		Services: []plexus.ServiceDesc{kv.StoreServiceDesc}, // which methods are idempotent
//		Throttle: &retry.Throttle{MaxTokens: 10, TokenRatio: 0.1},
//	})
//	store := kv.NewStoreClient(conn)
//
// The policy is gRPC's (gRFC A6): MaxAttempts, an exponential backoff
// (InitialBackoff, Multiplier, MaxBackoff, with jitter), RetryableCodes,
// and retry throttling by a token bucket (Throttle). Its zero value is
// usable: three attempts, 50 ms doubling up to 5 s, ±20% jitter.
//
// What is retried:
//
//   - A call that never left this side (errors.Is(err,
//     session.ErrNotSent): the session had ended or was draining, or the
//     peer had sent GOAWAY) is tried again for every method and every
//     call shape (Invoke, the open of NewStream, Notify): it cannot have
//     run. These retries are within MaxAttempts and the backoff, but take
//     no throttle tokens, as gRPC's transparent retries do not, since
//     they cost the peer nothing. (A host.Client waits for a restarting
//     plugin within the call's context by itself; a call can still meet
//     ErrNotSent from the session of a plugin that is just ending.)
//   - A unary call that may have reached the peer (any other failure) is
//     tried again only if its method is described idempotent
//     (plexus.MethodDesc.Idempotent, from Config.Services) and failed
//     with a status whose code is in its policy's RetryableCodes (by
//     default UNAVAILABLE and PEER_DIED). The serving side's idempotency
//     cache does not survive the plugin (a retry after a PEER_DIED runs
//     on a new instance), so the method may run again: that is what
//     idempotent promises is harmless, and why other methods are not
//     retried after such a failure.
//   - Never: an application error (the handler's typed error, code
//     APPLICATION_ERROR, or one already decoded, which is no status);
//     any error once the call's context has ended; a retry whose backoff
//     would end after the context's deadline; a stream once open; a
//     retry the throttle refuses; a call whose failed attempt decoded
//     into the caller's response, or sent its request *session.Lease
//     (spent by its first send).
//
// Idempotency keys: every attempt of one call to an idempotent method
// carries the same key in its outgoing metadata under
// session.IdempotencyKey (128 random bits in hex, made once per call),
// by which the serving side can answer a repeat with the first result.
// The caller's metadata is kept (copied, never changed), and so is a key
// the caller set itself. A request that is a *session.Lease is then
// copied rather than sent in place, as for any metadata.
//
// Errors: an error the policy does not retry, at the first attempt, is
// returned exactly as the wrapped Conn returned it. When the Conn stops
// retrying an error it would have retried, or after more than one
// attempt, it returns an *Error: the last attempt's error with the
// number of attempts and the Reason (Exhausted, Deadline, Throttled,
// ...). It unwraps to that error, so errors.Is, errors.As and
// plexus.CodeOf give that attempt's status.
//
// Backoff: the arithmetic is github.com/cenkalti/backoff/v5's
// ExponentialBackOff (InitialInterval, Multiplier, MaxInterval, and
// RandomizationFactor as the jitter) rather than our own: growing a
// time.Duration by a float multiplier overflows unless capped before the
// multiplication, and the jitter must be drawn uniformly over the whole
// interval; that package gets both right, is widely used and tested, and
// its parameters mean what its users already know. One value is made
// per call at its first retry (the type is not safe for concurrent use);
// its result is capped at MaxBackoff, which it applies before jitter
// only.
//
// Lifetime: a Conn holds no goroutines, timers or resources between
// calls and has nothing to close; it works as long as the Conn it wraps,
// which stays its owner's to close. Its Config is read once, by NewConn.
//
// Concurrency: a Conn is safe for concurrent use by any number of
// goroutines. Its configuration does not change after NewConn; the one
// state calls share is the throttle's token count, a single atomic word.
// Each call's retry state, backoff waits included, lives on the calling
// goroutine, and a wait ends when the call's context does.
package retry
