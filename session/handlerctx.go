package session

import "context"

// FromContext returns the session serving the call whose handler ctx
// belongs to (or a context derived from it), and nil for any other
// context. A handler uses it to allocate a response or stream message on
// its own link, which is what lets the lease cross without a copy:
//
//	l, err := session.FromContext(ctx).Alloc(n)
//
// It works in unary and stream handlers; a notification handler's context
// belongs to no call, and FromContext returns nil there.
func FromContext(ctx context.Context) *Session {
	if ch, ok := ctx.Value(callKey{}).(*channel); ok {
		// ch.s is set when the channel is made and never changes, even
		// after the call ends (see recycle).
		return ch.s
	}
	return nil
}
