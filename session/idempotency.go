package session

// IdempotencyKey is the metadata key that carries a logical call's
// idempotency key: set by a retry policy (package retry) on every attempt
// of a call to a method described as idempotent, the same on each, so
// that the serving side's IdempotencyCache answers a repeat with the
// first attempt's result instead of running the handler again.
const IdempotencyKey = "plexus-idempotency-key"
