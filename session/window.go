package session

import "context"

type recvWindowKey struct{}

// WithRecvWindow returns a context whose streams (NewStream) receive
// with a window of n bytes instead of the session's ChannelWindow, when
// n is larger: for a stream that takes in more than a window at a time
// (a subscription's deliveries), whose sender would otherwise wait for
// credit every half window, and whose receiver would send that credit as
// often. The receiver holds up to n bytes of the stream's frames that it
// has not read; the link's window (LinkWindow) still bounds the whole
// link. n is capped at 1 GiB, as ChannelWindow is. Calls (Invoke) do not
// read it.
func WithRecvWindow(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, recvWindowKey{}, int64(min(n, 1<<30)))
}

// recvWindowOf is WithRecvWindow's window in ctx, or 0.
func recvWindowOf(ctx context.Context) int64 {
	n, _ := ctx.Value(recvWindowKey{}).(int64)
	return n
}
