package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
	"github.com/plexus-ipc/plexus/session"
)

// TestDuplicateHandledOnce: a message resent with the same ID (the same
// Deliver call made twice by hand) runs the handler once and is
// acknowledged both times; another ID runs it again.
func TestDuplicateHandledOnce(t *testing.T) {
	snk := newSink()
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)

	require.NoError(t, deliverByHand(ctx, conn, "m-1", noteID, "first"))
	require.NoError(t, deliverByHand(ctx, conn, "m-1", noteID, "resent"), "a duplicate is acknowledged")
	runs, _ := snk.snapshot()
	require.Len(t, runs, 1, "a duplicate does not run the handler")
	require.Equal(t, "m-1", runs[0].id)
	require.Equal(t, "first", runs[0].msg)
	require.Equal(t, "m-1", runs[0].md[delivery.MetadataID], "the handler sees the call's metadata")

	require.NoError(t, deliverByHand(ctx, conn, "m-2", noteID, "second"))
	runs, _ = snk.snapshot()
	require.Len(t, runs, 2)
	require.Equal(t, "second", runs[1].msg)
}

// TestDuplicateWaitsForFirst: a duplicate that arrives while the first
// copy's handler still runs is acknowledged only once that handler has
// returned, and does not run the handler itself.
func TestDuplicateWaitsForFirst(t *testing.T) {
	snk := newSink()
	snk.gate = make(chan struct{})
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)

	first := make(chan error, 1)
	go func() { first <- deliverByHand(ctx, conn, "m-1", noteID, "x") }()
	require.Equal(t, "m-1", waitEntered(t, snk))

	type result struct {
		err error
		at  time.Time
	}
	second := make(chan result, 1)
	go func() {
		err := deliverByHand(ctx, conn, "m-1", noteID, "x")
		second <- result{err, time.Now()}
	}()
	select {
	case r := <-second:
		t.Fatalf("the duplicate was answered (%v) while the first copy's handler still ran", r.err)
	case <-time.After(200 * time.Millisecond):
	}
	released := time.Now()
	close(snk.gate)
	require.NoError(t, <-first)
	r := <-second
	require.NoError(t, r.err)
	require.False(t, r.at.Before(released), "the duplicate was acknowledged after the handler returned")
	runs, _ := snk.snapshot()
	require.Len(t, runs, 1)
	require.Empty(t, snk.entered, "the duplicate did not run the handler")
}

// TestWindowSizeEvicts: the receiving side remembers only Window.Size
// IDs, oldest out first: a message resent after two newer ones were
// handled (window 2) runs again, a recent one does not.
func TestWindowSizeEvicts(t *testing.T) {
	snk := newSink()
	conn := pair(t, snk, delivery.ReceiverConfig{Window: delivery.WindowConfig{Size: 2}})
	ctx := testCtx(t)
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, deliverByHand(ctx, conn, id, noteID, id))
	}
	require.NoError(t, deliverByHand(ctx, conn, "c", noteID, "c"))
	runs, _ := snk.snapshot()
	require.Len(t, runs, 3, "c is still in the window")
	require.NoError(t, deliverByHand(ctx, conn, "a", noteID, "a"))
	runs, _ = snk.snapshot()
	require.Len(t, runs, 4, "a was evicted by b and c, and runs again")
	require.Equal(t, "a", runs[3].id)
}

// TestUnknownTarget: a message for a method the receiving side does not
// serve as a notification (unknown, or unary), and a Deliver call to a
// side that does not serve acknowledged delivery at all, are refused with
// UNIMPLEMENTED saying so; the Sender gives up on such a message at once
// rather than resend it.
func TestUnknownTarget(t *testing.T) {
	snk := newSink()
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)

	err := deliverByHand(ctx, conn, "m-1", echoID, "x")
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.Contains(t, err.Error(), "not a notification this side serves")

	s := delivery.NewSender(conn, delivery.SenderConfig{})
	r, err := s.Send(ctx, plexus.MethodID(sinkName, "Nope"), plexus.Raw("x"))
	require.NoError(t, err)
	err = r.Wait(ctx)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.Contains(t, err.Error(), r.ID())
	require.Equal(t, uint64(1), s.Stats().Attempts, "not resent")
	require.NoError(t, s.Close(ctx))

	// A side without acknowledged delivery: the session's own answer.
	mux := session.NewMux()
	_, err = mux.HandleNotify(sinkName, "Note", snk.note)
	require.NoError(t, err)
	bare := delivery.NewSender(pairMux(t, mux), delivery.SenderConfig{})
	r, err = bare.Send(ctx, noteID, plexus.Raw("x"))
	require.NoError(t, err)
	require.ErrorIs(t, r.Wait(ctx), plexus.ErrUnimplemented)
	require.NoError(t, bare.Close(ctx))

	runs, _ := snk.snapshot()
	require.Empty(t, runs)
}

// TestMalformedDeliver: every value of a Deliver call comes from the peer
// and is checked; a missing, empty, oversized or unprintable ID and a
// missing or malformed method are refused with INVALID_ARGUMENT, and the
// handler does not run.
func TestMalformedDeliver(t *testing.T) {
	snk := newSink()
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)
	cases := []struct {
		name string
		md   plexus.Metadata
		want string
	}{
		{"no metadata", nil, "has no ID"},
		{"empty ID", plexus.Metadata{delivery.MetadataID: "", delivery.MetadataMethod: "1"}, "has no ID"},
		{"long ID", plexus.Metadata{delivery.MetadataID: strings.Repeat("x", delivery.MaxIDLen+1), delivery.MetadataMethod: "1"}, "exceeds 128"},
		{"newline in ID", plexus.Metadata{delivery.MetadataID: "a\nb", delivery.MetadataMethod: "1"}, "not printable ASCII"},
		{"space in ID", plexus.Metadata{delivery.MetadataID: "a b", delivery.MetadataMethod: "1"}, "not printable ASCII"},
		{"no method", plexus.Metadata{delivery.MetadataID: "m-1"}, "names no method"},
		{"method not hex", plexus.Metadata{delivery.MetadataID: "m-1", delivery.MetadataMethod: "zz"}, "not a 64-bit hex number"},
		{"method too long", plexus.Metadata{delivery.MetadataID: "m-1", delivery.MetadataMethod: strings.Repeat("f", 17)}, "not a 64-bit hex number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx := ctx
			if c.md != nil {
				cctx = plexus.WithMetadata(ctx, c.md)
			}
			err := conn.Invoke(cctx, delivery.DeliverMethod, plexus.Raw("x"), nil)
			require.ErrorIs(t, err, plexus.ErrInvalidArgument)
			require.Contains(t, err.Error(), c.want)
		})
	}
	runs, _ := snk.snapshot()
	require.Empty(t, runs)
	// The longest valid ID is accepted.
	require.NoError(t, deliverByHand(ctx, conn, strings.Repeat("x", delivery.MaxIDLen), noteID, "x"))
}

// TestHandlerPanicIsResent: a handler that panics has not handled the
// message: its ID is not recorded, the sender is answered INTERNAL (the
// link survives), and the resend runs the handler again.
func TestHandlerPanicIsResent(t *testing.T) {
	snk := newSink()
	snk.panics = 1
	conn := pair(t, snk, delivery.ReceiverConfig{})
	ctx := testCtx(t)

	err := deliverByHand(ctx, conn, "m-1", noteID, "x")
	require.ErrorIs(t, err, plexus.ErrInternal)
	require.NoError(t, deliverByHand(ctx, conn, "m-1", noteID, "x"))
	require.NoError(t, deliverByHand(ctx, conn, "m-1", noteID, "x"))
	runs, _ := snk.snapshot()
	require.Len(t, runs, 1, "run again after the panic, and once only")

	// The same through a Sender, which resends on its own.
	snk.mu.Lock()
	snk.panics = 2
	snk.mu.Unlock()
	s := delivery.NewSender(conn, delivery.SenderConfig{MinBackoff: time.Millisecond})
	r, err := s.Send(ctx, noteID, plexus.Raw("y"))
	require.NoError(t, err)
	require.NoError(t, r.Wait(ctx))
	require.Equal(t, uint64(3), s.Stats().Attempts)
	runs, _ = snk.snapshot()
	require.Len(t, runs, 2)
	require.Equal(t, "y", runs[1].msg)
	require.NoError(t, s.Close(ctx))
}

// TestRegisterOnMux: Register adds acknowledged delivery to a Mux of
// one's own (a host's HostServices), described with its signature for
// the peer's link-time check, and delivers to the notifications
// registered on that Mux, before or after it.
func TestRegisterOnMux(t *testing.T) {
	snk := newSink()
	mux := session.NewMux()
	require.NoError(t, delivery.Register(mux, delivery.ReceiverConfig{}))
	_, err := mux.HandleNotify(sinkName, "Note", snk.note) // after: looked up on arrival
	require.NoError(t, err)

	var desc *plexus.ServiceDesc
	for _, d := range mux.Services() {
		if d.Name == delivery.ServiceName {
			desc = &d
		}
	}
	require.NotNil(t, desc)
	require.Equal(t, delivery.ServiceDesc.Methods, desc.Methods)
	require.NotZero(t, desc.Methods[0].Signature)

	ctx := testCtx(t)
	s := delivery.NewSender(pairMux(t, mux), delivery.SenderConfig{})
	r, err := s.Send(ctx, noteID, plexus.Raw("to the host"))
	require.NoError(t, err)
	require.NoError(t, r.Wait(ctx))
	runs, _ := snk.snapshot()
	require.Len(t, runs, 1)
	require.Equal(t, "to the host", runs[0].msg)
	require.Equal(t, r.ID(), runs[0].id)
	require.NoError(t, s.Close(ctx))

	require.Error(t, delivery.Register(mux, delivery.ReceiverConfig{}), "registered twice on one Mux")
}
