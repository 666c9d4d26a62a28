package conformance

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

func scenarios() []scenario {
	return []scenario{
		{name: "UnaryRoundTrip", run: testUnaryRoundTrip},
		{name: "Metadata", run: testMetadata},
		{name: "UnknownMethod", run: testUnknownMethod},
		{name: "DecodeError", run: testDecodeError},
		{name: "HandlerPanic", run: testHandlerPanic},
		{name: "Cancellation", run: testCancellation},
		{name: "Deadline", run: testDeadline},
		{name: "CreditExhaustion", run: testCreditExhaustion},
		{name: "SlowConsumer", run: testSlowConsumer},
		{name: "LargePayload", run: testLargePayload},
		{name: "OversizeRejected", run: testOversizeRejected},
		{name: "ConcurrentCalls", run: testConcurrentCalls},
		{name: "LongStreams", run: testLongStreams},
		{name: "BufferedStreams", run: testBufferedStreams},
		{name: "Notifications", run: testNotifications},
		{name: "GoAwayDrain", run: testGoAwayDrain},
		{name: "Keepalive", run: testKeepalive, opts: LinkOptions{
			KeepaliveIdle: 50 * time.Millisecond, KeepaliveTimeout: 200 * time.Millisecond,
		}},
		{name: "PeerDeath", run: testPeerDeath},
		{name: "PeerClose", run: testPeerClose},
		{name: "ProtocolViolation", run: testProtocolViolation, opts: LinkOptions{Raw: true}},
	}
}

// 1. Unary calls carry payloads of every small size and one that spans
// several buffers, unchanged.
func testUnaryRoundTrip(t *testing.T, l *link) {
	ctx := callCtx(t)
	for _, n := range []int{0, 1, 100, 64 << 10} {
		req := transporttest.Pattern(n, uint64(n)+1)
		var resp plexus.Raw
		require.NoError(t, l.Caller.Invoke(ctx, MethodEcho, plexus.Raw(req), &resp), "%d bytes", n)
		requireBytes(t, req, resp, fmt.Sprintf("echo of %d bytes", n))
	}
	// A nil response discards the message.
	require.NoError(t, l.Caller.Invoke(ctx, MethodEcho, plexus.Raw("discard me"), nil))
}

// 2. Request metadata reaches the handler; the trailer it sets comes back,
// for unary calls and at the end of a stream.
func testMetadata(t *testing.T, l *link) {
	ctx := callCtx(t)
	md := plexus.Metadata{"trace-id": "t-123", "tenant": "blue", "empty": ""}

	var trailer plexus.Metadata
	cctx := plexus.WithResponseMetadata(plexus.WithMetadata(ctx, md), &trailer)
	var resp plexus.Raw
	require.NoError(t, l.Caller.Invoke(cctx, MethodMetadata, plexus.Raw("body-1"), &resp))
	var seen plexus.Metadata
	require.NoError(t, json.Unmarshal(resp, &seen))
	require.Equal(t, md, seen, "metadata seen by the handler")
	require.Equal(t, plexus.Metadata{"echo-trace-id": "t-123", "echo-tenant": "blue", "echo-empty": "", "body": "body-1"}, trailer)

	// No request metadata: the handler sees none; the trailer still comes.
	trailer = nil
	require.NoError(t, l.Caller.Invoke(plexus.WithResponseMetadata(ctx, &trailer), MethodMetadata, plexus.Raw("body-2"), &resp))
	seen = nil
	require.NoError(t, json.Unmarshal(resp, &seen))
	require.Empty(t, seen)
	require.Equal(t, plexus.Metadata{"body": "body-2"}, trailer)

	// A stream's trailer is delivered when Recv reports the end.
	var strailer plexus.Metadata
	sctx := plexus.WithResponseMetadata(plexus.WithMetadata(ctx, md), &strailer)
	st, err := l.Caller.NewStream(sctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "md", Count: 3, Size: 16}), true)
	require.NoError(t, err)
	var m plexus.Raw
	for i := range 3 {
		require.NoError(t, st.Recv(&m))
		require.NoError(t, checkItem(uint64(i), m))
	}
	require.Equal(t, io.EOF, st.Recv(&m))
	require.Equal(t, plexus.Metadata{"echo-trace-id": "t-123", "echo-tenant": "blue", "echo-empty": "", "sent": "3"}, strailer)
}

// 3. Unknown methods and services are UNIMPLEMENTED with a message that
// says which, and the link survives them.
func testUnknownMethod(t *testing.T, l *link) {
	ctx := callCtx(t)
	err := l.Caller.Invoke(ctx, plexus.MethodID(TestService, "NoSuchMethod"), plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "unknown method")

	err = l.Caller.Invoke(ctx, plexus.MethodID("conformance.NoSuchService", "Echo"), plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "unknown service")

	// The same for a stream, reported by its first Recv.
	st, err := l.Caller.NewStream(ctx, plexus.MethodID(TestService, "NoSuchStream"), nil, false)
	require.NoError(t, err)
	err = st.Recv(nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "unknown method")

	// A notification is not a call.
	err = l.Caller.Invoke(ctx, MethodNote, jsonMsg(NoteMessage{Key: "not-a-call"}), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)

	echoOK(t, l.Caller, "unknown methods")
}

// failingMsg is a response type that cannot decode anything.
type failingMsg struct{}

func (failingMsg) UnmarshalMsg([]byte) ([]byte, error) { return nil, errors.New("refusing to decode") }

// 4. A handler that cannot decode its request answers INVALID_ARGUMENT;
// a caller that cannot decode the response gets INTERNAL; the link lives.
func testDecodeError(t *testing.T, l *link) {
	ctx := callCtx(t)
	var resp plexus.Raw
	require.NoError(t, l.Caller.Invoke(ctx, MethodDecodeInt, plexus.Raw(binary.LittleEndian.AppendUint64(nil, 41)), &resp))
	require.Len(t, resp, 8)
	require.Equal(t, uint64(42), binary.LittleEndian.Uint64(resp))

	for _, garbage := range [][]byte{{}, {1, 2, 3}, make([]byte, 9)} {
		err := l.Caller.Invoke(ctx, MethodDecodeInt, plexus.Raw(garbage), &resp)
		requireCode(t, err, plexus.InvalidArgument, "want 8 bytes")
	}

	err := l.Caller.Invoke(ctx, MethodEcho, plexus.Raw("fine"), failingMsg{})
	requireCode(t, err, plexus.Internal, "refusing to decode")

	echoOK(t, l.Caller, "decode errors")
}

// 5. A panicking handler becomes INTERNAL carrying the panic value; the
// link survives, for unary and stream handlers.
func testHandlerPanic(t *testing.T, l *link) {
	ctx := callCtx(t)
	err := l.Caller.Invoke(ctx, MethodPanic, plexus.Raw("p-42"), nil)
	requireCode(t, err, plexus.Internal, "conformance panic: p-42")
	echoOK(t, l.Caller, "a unary handler panic")

	st, err := l.Caller.NewStream(ctx, MethodPanicStream, plexus.Raw("s-7"), true)
	require.NoError(t, err)
	requireCode(t, st.Recv(nil), plexus.Internal, "conformance stream panic: s-7")
	echoOK(t, l.Caller, "a stream handler panic")
}

// 6. Cancelling a call reaches the handler: for a unary call in flight,
// and for server streams the caller abandons without reading, by its
// context or by Close.
func testCancellation(t *testing.T, l *link) {
	ctx, cancel := context.WithCancel(callCtx(t))
	done := async(func() error { return l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("unary"), nil) })
	l.remote.wait("started/unary", 1)
	cancel()
	err := within(t, done, 5*time.Second, "unary call after cancel")
	requireCode(t, err, plexus.Canceled, "")
	l.remote.wait("canceled/unary", 1)

	// A server stream stalled on flow control, never read.
	ctx, cancel = context.WithCancel(callCtx(t))
	st, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "stream", Count: 1 << 30, Size: 1024}), true)
	require.NoError(t, err)
	l.remote.wait("sent/stream", 1)
	cancel()
	l.remote.wait("canceled/stream", 1)
	requireCode(t, st.Recv(nil), plexus.Canceled, "")

	st, err = l.Caller.NewStream(callCtx(t), MethodGenerate, jsonMsg(GenerateRequest{Key: "closed", Count: 1 << 30, Size: 1024}), true)
	require.NoError(t, err)
	l.remote.wait("sent/closed", 1)
	st.Close()
	l.remote.wait("canceled/closed", 1)
	requireCode(t, st.Recv(nil), plexus.Canceled, "")

	// Abandon streams while their data is still arriving: frames that
	// cross the RESET must be ignored, not taken for a protocol violation.
	const storm = 50
	for i := range storm {
		ctx, cancel := context.WithCancel(callCtx(t))
		st, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "storm", Count: 1 << 30, Size: 256}), true)
		require.NoError(t, err)
		var m plexus.Raw
		for j := range 10 {
			require.NoError(t, st.Recv(&m), "storm stream %d item %d", i, j)
		}
		if i%2 == 0 {
			st.Close()
		} else {
			cancel()
		}
		cancel()
	}
	l.remote.wait("canceled/storm", storm)
	require.NoError(t, l.Caller.Err())

	echoOK(t, l.Caller, "cancellations")
}

// 7. Deadlines travel with the call, end it as DEADLINE_EXCEEDED, and are
// inherited by calls the handler makes back to the caller, which are also
// cancelled when the original call is.
func testDeadline(t *testing.T, l *link) {
	const timeout = 100 * time.Millisecond
	// The callee must be serving before the clock starts: a call whose
	// OPEN and RESET (at the deadline) reach a callee still starting up
	// together is cancelled before its handler runs, and rightly so.
	echoOK(t, l.Caller, "warm-up")
	ctx, cancel := context.WithTimeout(callCtx(t), timeout)
	defer cancel()
	err := l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("deadline"), nil)
	requireCode(t, err, plexus.DeadlineExceeded, "")
	// The caller's deadline may pass before the handler has even started
	// (a loaded machine): wait for it before asking what it saw.
	l.remote.wait("started/deadline", 1)
	seen := l.remote.deadline("deadline")
	// Not a lower bound: on a loaded machine the handler may start after
	// its deadline has passed.
	require.True(t, seen.HasDeadline, "the handler saw no deadline")
	require.LessOrEqual(t, seen.Remaining, timeout)
	l.remote.wait("canceled/deadline", 1)

	// Nested: the callee's handler calls Block on the caller's side with
	// its own context; the caller then cancels the outer call.
	ctx, cancel = context.WithTimeout(callCtx(t), 60*time.Second)
	defer cancel()
	outerDL, _ := ctx.Deadline()
	req := jsonMsg(CallBackRequest{Key: "outer", Method: "Block", Req: []byte("inner")})
	issued := time.Now()
	done := async(func() error { return l.Caller.Invoke(ctx, MethodCallBack, req, nil) })
	l.local.wait("started/inner", 1)
	inner := l.Local.Deadline("inner")
	require.True(t, inner.OK, "the nested handler saw no deadline")
	// A deadline travels as the time remaining and each receiver adds it
	// to its own clock, so every hop may move it later by that hop's
	// transit time, and by no more: all of it lies between issuing the
	// outer call and the start of the nested handler.
	transit := inner.Start.Sub(issued)
	require.False(t, inner.At.After(outerDL.Add(transit)),
		"nested deadline %v is later than the original %v plus the %v the calls took to arrive", inner.At, outerDL, transit)
	require.True(t, inner.At.After(inner.Start), "the nested deadline has passed already")
	outer := l.remote.deadline("outer")
	require.True(t, outer.HasDeadline)
	require.LessOrEqual(t, outer.Remaining, 60*time.Second)
	cancel()
	requireCode(t, within(t, done, 5*time.Second, "outer call after cancel"), plexus.Canceled, "")
	l.local.wait("canceled/inner", 1)
	l.remote.wait("canceled/outer", 1)

	// Nested, ended by the deadline: the inner handler's context ends too.
	// Longer than the first timeout, so that the callee's handler can
	// reliably make its call before the inherited deadline passes.
	ctx, cancel = context.WithTimeout(callCtx(t), 5*timeout)
	defer cancel()
	req = jsonMsg(CallBackRequest{Key: "outer-dl", Method: "Block", Req: []byte("inner-dl")})
	requireCode(t, l.Caller.Invoke(ctx, MethodCallBack, req, nil), plexus.DeadlineExceeded, "")
	l.local.wait("canceled/inner-dl", 1)
	require.True(t, l.Local.Deadline("inner-dl").OK)

	echoOK(t, l.Caller, "deadlines")
}

// 8. A server stream larger than the channel window stalls while the caller
// does not read, never exceeding the window, and delivers everything intact
// once the caller reads again.
func testCreditExhaustion(t *testing.T, l *link) {
	const size = 4 << 10
	const total = (2 << 20) / size
	ctx := callCtx(t)
	st, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "credit", Count: total, Size: size}), true)
	require.NoError(t, err)

	sent := l.remote.waitStable("sent/credit")
	// A sender may start a frame while its window is positive, so the
	// window can be overrun by at most one frame.
	bound := int64(session.DefaultChannelWindow/(size+wire.DescSize) + 1)
	require.Less(t, sent, int64(total))
	require.LessOrEqual(t, sent, bound, "the handler sent more than the channel window allows")
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, sent, l.remote.counter("sent/credit"), "the handler kept sending while the caller did not read")

	var m plexus.Raw
	for i := range total {
		require.NoError(t, st.Recv(&m), "item %d", i)
		if err := checkItem(uint64(i), m); err != nil {
			t.Fatal(err)
		}
		require.Len(t, m, size)
	}
	require.Equal(t, io.EOF, st.Recv(&m))
	require.Equal(t, int64(total), l.remote.counter("sent/credit"))
}

// 9. A stream whose consumer never reads holds only its own window: unary
// calls and another long stream on the same link complete.
func testSlowConsumer(t *testing.T, l *link) {
	ctx := callCtx(t)
	slow, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "slow", Count: 1 << 30, Size: 4 << 10}), true)
	require.NoError(t, err)
	stalled := l.remote.waitStable("sent/slow")

	const calls = 100
	const items = 10000
	errs := make(chan error, calls+1)
	for i := range calls {
		go func() {
			req := transporttest.Pattern(100+i, uint64(i))
			var resp plexus.Raw
			err := l.Caller.Invoke(ctx, MethodEcho, plexus.Raw(req), &resp)
			if err == nil && string(resp) != string(req) {
				err = fmt.Errorf("call %d: wrong response", i)
			}
			errs <- err
		}()
	}
	go func() {
		errs <- func() error {
			st, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "fast", Count: items, Size: 64}), true)
			if err != nil {
				return err
			}
			var m plexus.Raw
			for i := range items {
				if err := st.Recv(&m); err != nil {
					return fmt.Errorf("fast stream item %d: %w", i, err)
				}
				if err := checkItem(uint64(i), m); err != nil {
					return err
				}
			}
			if err := st.Recv(&m); err != io.EOF {
				return fmt.Errorf("fast stream end: %v", err)
			}
			return nil
		}()
	}()
	for range calls + 1 {
		require.NoError(t, within(t, errs, 60*time.Second, "calls beside a stalled stream"))
	}
	require.Equal(t, stalled, l.remote.counter("sent/slow"), "the stalled stream got credit it was not granted")

	slow.Close()
	l.remote.wait("canceled/slow", 1)
}

// 10. Requests and responses at and just below the frame limit cross
// intact.
func testLargePayload(t *testing.T, l *link) {
	ctx := callCtx(t)
	max := l.env.MaxPayload
	require.Equal(t, max, l.Wire.MaxPayload(), "the env's MaxPayload does not match its transport")
	for _, n := range []int{max - 7, max} {
		req := transporttest.Pattern(n, uint64(n))
		var resp plexus.Raw
		require.NoError(t, l.Caller.Invoke(ctx, MethodEcho, plexus.Raw(req), &resp), "%d bytes", n)
		requireBytes(t, req, resp, fmt.Sprintf("echo of %d bytes", n))
	}
}

// 11. A message above the frame limit fails that call (or Send) with
// RESOURCE_EXHAUSTED, wherever it is produced, and nothing else.
func testOversizeRejected(t *testing.T, l *link) {
	ctx := callCtx(t)
	max := l.env.MaxPayload
	err := l.Caller.Invoke(ctx, MethodEcho, plexus.Raw(make([]byte, max+1)), nil)
	requireCode(t, err, plexus.ResourceExhausted, "")
	echoOK(t, l.Caller, "an oversize request")

	// Fits alone, not with its metadata.
	mctx := plexus.WithMetadata(ctx, plexus.Metadata{"pad": string(make([]byte, 100))})
	err = l.Caller.Invoke(mctx, MethodEcho, plexus.Raw(make([]byte, max-10)), nil)
	requireCode(t, err, plexus.ResourceExhausted, "")

	// The handler's response is too big: the callee reports it.
	err = l.Caller.Invoke(ctx, MethodGrow, plexus.Raw(binary.LittleEndian.AppendUint64(nil, uint64(max+1))), nil)
	requireCode(t, err, plexus.ResourceExhausted, "")
	echoOK(t, l.Caller, "an oversize response")

	// On a stream the failed Send leaves the stream usable.
	st, err := l.Caller.NewStream(ctx, MethodBidiEcho, nil, false)
	require.NoError(t, err)
	requireCode(t, st.Send(plexus.Raw(make([]byte, max+1))), plexus.ResourceExhausted, "")
	require.NoError(t, st.Send(plexus.Raw("small")))
	var m plexus.Raw
	require.NoError(t, st.Recv(&m))
	require.Equal(t, "small", string(m))
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(&m))
}

// 12. Many concurrent unary calls all get their own response.
func testConcurrentCalls(t *testing.T, l *link) {
	ctx := callCtx(t)
	n := concurrentCalls
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			<-start
			req := binary.LittleEndian.AppendUint64(nil, uint64(i))
			req = append(req, strconv.Itoa(i)...)
			var resp plexus.Raw
			err := l.Caller.Invoke(ctx, MethodEcho, plexus.Raw(req), &resp)
			if err == nil && string(resp) != string(req) {
				err = fmt.Errorf("call %d got the response %q", i, resp)
			}
			errs <- err
		}()
	}
	close(start)
	var failed int
	var first error
	for range n {
		if err := within(t, errs, 120*time.Second, "concurrent calls"); err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	require.Zero(t, failed, "%d of %d calls failed; first: %v", failed, n, first)
}

// 13. Long streams in each shape keep order and content.
func testLongStreams(t *testing.T, l *link) {
	ctx := callCtx(t)
	n := streamItems
	const size = 32

	// Server stream.
	st, err := l.Caller.NewStream(ctx, MethodGenerate, jsonMsg(GenerateRequest{Key: "long", Count: n, Size: size}), true)
	require.NoError(t, err)
	var m plexus.Raw
	for i := range n {
		if err := st.Recv(&m); err != nil {
			t.Fatalf("server stream item %d: %v", i, err)
		}
		if err := checkItem(uint64(i), m); err != nil {
			t.Fatalf("server stream: %v", err)
		}
	}
	require.Equal(t, io.EOF, st.Recv(&m))

	// Client stream: the handler checks order and content and counts.
	clientStream(t, ctx, l, n, size, false)
	// Bidi: one goroutine sends while this one receives the echoes.
	bidiStream(t, ctx, l, n, size, false)
}

// 13b. Buffered streams (several messages per frame) deliver the same
// items in the same order: a client stream whose end flushes it, and a
// bidirectional stream whose sender flushes only at CloseSend.
func testBufferedStreams(t *testing.T, l *link) {
	ctx := callCtx(t)
	const size = 32
	clientStream(t, ctx, l, streamItems, size, true)
	bidiStream(t, ctx, l, streamItems, size, true)
}

// clientStream sends n items of size bytes on a Consume stream, whose
// handler checks order and content and answers their count. A buffered
// stream packs several messages per frame and flushes only at its end.
func clientStream(t *testing.T, ctx context.Context, l *link, n, size int, buffered bool) {
	what := streamName("client stream", buffered)
	st, err := l.Caller.NewStream(ctx, MethodConsume, nil, false)
	require.NoError(t, err)
	if buffered {
		require.NoError(t, st.Buffer(true))
	}
	buf := make([]byte, 0, size)
	for i := range n {
		buf = appendItem(buf[:0], uint64(i), size)
		if err := st.Send(plexus.Raw(buf)); err != nil {
			t.Fatalf("%s item %d: %v", what, i, err)
		}
	}
	require.NoError(t, st.CloseSend())
	var m plexus.Raw
	require.NoError(t, st.Recv(&m))
	require.Len(t, m, 8)
	require.Equal(t, uint64(n), binary.LittleEndian.Uint64(m))
	require.Equal(t, io.EOF, st.Recv(&m))
}

// bidiStream sends n items of size bytes on a BidiEcho stream from one
// goroutine while this one receives and checks the echoes. A buffered
// stream's sender flushes only at CloseSend.
func bidiStream(t *testing.T, ctx context.Context, l *link, n, size int, buffered bool) {
	what := streamName("bidi", buffered)
	st, err := l.Caller.NewStream(ctx, MethodBidiEcho, nil, false)
	require.NoError(t, err)
	if buffered {
		require.NoError(t, st.Buffer(true))
	}
	sent := async(func() error {
		buf := make([]byte, 0, size)
		for i := range n {
			buf = appendItem(buf[:0], uint64(i), size)
			if err := st.Send(plexus.Raw(buf)); err != nil {
				return fmt.Errorf("%s send %d: %w", what, i, err)
			}
		}
		return st.CloseSend()
	})
	var m plexus.Raw
	for i := range n {
		if err := st.Recv(&m); err != nil {
			t.Fatalf("%s item %d: %v (sender: %v)", what, i, err, drainErr(sent))
		}
		if err := checkItem(uint64(i), m); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	require.Equal(t, io.EOF, st.Recv(&m))
	require.NoError(t, within(t, sent, 30*time.Second, what+" sender"))
}

// streamName names a stream in failure messages.
func streamName(kind string, buffered bool) string {
	if buffered {
		return "buffered " + kind
	}
	return kind
}

func drainErr(ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return nil
	}
}

// 14. Notifications reach the handler, in the order one sender sent them;
// one for an unknown method is dropped without harming the link.
func testNotifications(t *testing.T, l *link) {
	ctx := callCtx(t)
	const n = 1000
	for i := range n {
		require.NoError(t, l.Caller.Notify(ctx, MethodNote, jsonMsg(NoteMessage{Key: "order", Seq: int64(i)})))
	}
	l.remote.wait("notes/order", n)
	got := l.remote.cmd(Command{Op: "notes", Key: "order"}).Values
	require.Len(t, got, n)
	for i, seq := range got {
		if seq != int64(i) {
			t.Fatalf("notifications handled out of order: position %d holds %d (around it: %v)", i, seq, got[max(i-3, 0):min(i+4, n)])
		}
	}

	require.NoError(t, l.Caller.Notify(ctx, plexus.MethodID(TestService, "NoSuchNote"), plexus.Raw("x")))
	require.NoError(t, l.Caller.Notify(ctx, MethodNote, jsonMsg(NoteMessage{Key: "after", Seq: 1})))
	l.remote.wait("notes/after", 1)
	require.Zero(t, l.remote.counter("notes-bad"))
	echoOK(t, l.Caller, "notifications")
}

// 15. Drain lets the calls in flight in both directions finish, refuses
// new ones on both sides with UNAVAILABLE, and then closes the link.
func testGoAwayDrain(t *testing.T, l *link) {
	ctx := callCtx(t)
	// Control goes through a call opened before the drain: a new control
	// RPC would be refused like any other call.
	script, err := l.Caller.NewStream(ctx, MethodScript, nil, false)
	require.NoError(t, err)
	sc := ctl{t: t, do: scriptDo(script)}

	// A call the peer made, in flight.
	sc.cmd(Command{Op: "spawn", Key: "peer-call", Method: "Block", Req: []byte("peer-call")})
	l.local.wait("started/peer-call", 1)
	// A call this side made, in flight.
	own := async(func() error {
		var resp plexus.Raw
		err := l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("own-call"), &resp)
		if err == nil && string(resp) != "released:own-call" {
			err = fmt.Errorf("own call: response %q", resp)
		}
		return err
	})
	sc.wait("started/own-call", 1)

	drained := async(func() error {
		dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return l.Caller.Drain(dctx)
	})

	// New calls on the draining side fail once Drain has begun.
	for i := 0; ; i++ {
		err = l.Caller.Invoke(ctx, MethodEcho, plexus.Raw("new"), nil)
		if err != nil || i == 1000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	requireCode(t, err, plexus.Unavailable, "")
	_, err = l.Caller.NewStream(ctx, MethodGenerate, nil, true)
	requireCode(t, err, plexus.Unavailable, "")

	// The peer's new calls fail too: refused locally once GOAWAY arrived,
	// or by this side if the OPEN crossed it.
	r := sc.cmd(Command{Op: "call", Method: "Echo", Req: []byte("late"), Timeout: 10 * time.Second})
	require.Equal(t, plexus.Unavailable, r.Code, "peer's new call during drain: %s", r.Message)

	select {
	case err := <-drained:
		t.Fatalf("Drain returned with calls in flight: %v", err)
	default:
	}

	// The calls in flight complete normally.
	l.Local.Release("peer-call")
	r = sc.cmd(Command{Op: "result", Key: "peer-call"})
	require.Equal(t, plexus.OK, r.Code, "peer's call in flight: %s", r.Message)
	require.Equal(t, "released:peer-call", string(r.Data))
	sc.release("own-call")
	require.NoError(t, within(t, own, 10*time.Second, "own call in flight"))

	require.NoError(t, script.CloseSend())
	require.Equal(t, io.EOF, script.Recv(nil))
	require.NoError(t, within(t, drained, 10*time.Second, "Drain after the last call ended"))
	require.ErrorIs(t, l.Caller.Err(), plexus.ErrLinkClosed)
	require.NoError(t, l.Peer.Wait(calleeEndTimeout), "the peer did not end after the drain")
}

// 16. Keepalive keeps an idle healthy link up and declares a silent peer
// dead, failing its pending calls with PEER_DIED.
func testKeepalive(t *testing.T, l *link) {
	ctx := callCtx(t)
	idle := time.NewTimer(time.Second)
	select {
	case <-l.Caller.Done():
		t.Fatalf("an idle healthy link died: %v", l.Caller.Err())
	case <-idle.C:
	}
	require.NoError(t, l.Caller.Err())
	echoOK(t, l.Caller, "an idle second")

	done := async(func() error { return l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("pending"), nil) })
	l.remote.wait("started/pending", 1)
	silent := time.Now()
	l.Wire.Enable()
	err := within(t, done, 10*time.Second, "pending call on a silent link")
	elapsed := time.Since(silent)
	requireCode(t, err, plexus.PeerDied, "")
	require.Less(t, elapsed, 3*time.Second, "keepalive took too long to declare the peer dead")
	require.ErrorIs(t, l.Caller.Err(), plexus.ErrPeerDied)
	require.ErrorContains(t, l.Caller.Err(), "keepalive")
}

// 17. When the peer dies, every call in flight fails with PEER_DIED at
// once, and so does every later call.
func testPeerDeath(t *testing.T, l *link) {
	ctx := callCtx(t)
	const n = 100
	type result struct {
		err error
		at  time.Time
	}
	results := make(chan result, n)
	for range n {
		go func() {
			err := l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("doomed"), nil)
			results <- result{err, time.Now()}
		}()
	}
	l.remote.wait("started/doomed", n)
	killed := time.Now()
	l.Peer.Kill()
	for i := range n {
		r := within(t, results, 10*time.Second, "calls after the peer died")
		requireCode(t, r.err, plexus.PeerDied, "")
		require.Less(t, r.at.Sub(killed), 2*time.Second, "call %d failed late", i)
	}

	start := time.Now()
	requireCode(t, l.Caller.Invoke(ctx, MethodEcho, plexus.Raw("x"), nil), plexus.PeerDied, "")
	_, err := l.Caller.NewStream(ctx, MethodGenerate, nil, true)
	requireCode(t, err, plexus.PeerDied, "")
	requireCode(t, l.Caller.Notify(ctx, MethodNote, jsonMsg(NoteMessage{Key: "dead"})), plexus.PeerDied, "")
	require.Less(t, time.Since(start), time.Second, "calls on a dead link did not fail at once")
}

// 17b. A peer that closes its session with calls in flight (rather than
// crashing) fails them all with PEER_DIED too: its handlers, cancelled by
// the close, must not get a final status out first.
func testPeerClose(t *testing.T, l *link) {
	ctx := callCtx(t)
	const n = 100
	errs := make(chan error, n)
	for range n {
		go func() { errs <- l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("closing"), nil) }()
	}
	l.remote.wait("started/closing", n)
	require.NoError(t, l.Caller.Notify(ctx, MethodCloseSession, plexus.Raw{}))
	for range n {
		requireCode(t, within(t, errs, 10*time.Second, "calls after the peer closed"), plexus.PeerDied, "")
	}
	require.NoError(t, l.Peer.Wait(calleeEndTimeout))
}

// 18. A DATA frame for a channel nobody opened ends the session with
// PROTOCOL_VIOLATION and fails the calls in flight.
func testProtocolViolation(t *testing.T, l *link) {
	ctx := callCtx(t)
	done := async(func() error { return l.Caller.Invoke(ctx, MethodBlock, plexus.Raw("victim"), nil) })
	err := within(t, done, 10*time.Second, "call on a violated link")
	requireCode(t, err, plexus.ProtocolViolation, "")
	within(t, l.Caller.Done(), 10*time.Second, "session end")
	require.ErrorIs(t, l.Caller.Err(), plexus.ErrProtocolViolation)
	requireCode(t, l.Caller.Invoke(ctx, MethodEcho, plexus.Raw("x"), nil), plexus.ProtocolViolation, "")
}
