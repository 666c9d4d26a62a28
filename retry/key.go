package retry

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// newKey returns a random 128-bit idempotency key in hex: random, not a
// counter, because the serving side's cache sees keys from every host
// process and every restart of each, which a counter would repeat.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// withKey returns ctx with a fresh idempotency key added to its outgoing
// metadata, made once per logical call so that every attempt carries the
// same one. A key the caller set is kept: the caller may retry at a
// higher level and want the serving side to see one call. The caller's
// map is copied, not changed: it may be shared with other calls.
func withKey(ctx context.Context) context.Context {
	md := plexus.OutgoingMetadata(ctx)
	if _, ok := md[session.IdempotencyKey]; ok {
		return ctx
	}
	out := make(plexus.Metadata, len(md)+1)
	for k, v := range md {
		out[k] = v
	}
	out[session.IdempotencyKey] = newKey()
	return plexus.WithMetadata(ctx, out)
}
