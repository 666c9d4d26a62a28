package buslink_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/session"
)

// rec is one delivery record as the host writes it: [seq, subject,
// header, data, flags, size], its tag given by its batch.
type rec struct {
	tag   uint64
	data  []byte
	flags uint8
	size  uint64
}

// batch encodes recs as one batch message, [first tag, [record, ...]],
// from the first record's tag (the others' are not on the wire).
func batch(recs ...rec) plexus.Raw {
	first := uint64(2)
	if len(recs) > 0 {
		first = recs[0].tag
	}
	b := codec.AppendArrayHeader(nil, 2)
	b = codec.AppendUint64(b, first)
	b = codec.AppendArrayHeader(b, len(recs))
	for _, r := range recs {
		b = codec.AppendArrayHeader(b, 6)
		b = codec.AppendUint64(b, r.tag)
		b = codec.AppendString(b, "a")
		b = codec.AppendNil(b)
		b = codec.AppendBytes(b, r.data)
		b = codec.AppendUint8(b, r.flags)
		b = codec.AppendUint64(b, r.size)
	}
	return b
}

// TestHostileHostBatches: a host that breaks Subscribe's batches (a tag
// skipped, an empty batch, a large delivery before the last, large data
// of another size than announced, unknown flags) ends the subscription
// with INVALID_ARGUMENT on the subscriber; what came before in good
// batches is delivered first, nothing of the bad batch is.
func TestHostileHostBatches(t *testing.T) {
	const large = buslink.LargeData + 1
	cases := map[string][]plexus.Raw{
		"tag skipped":         {batch(rec{tag: 1, data: []byte("x")}), batch(rec{tag: 3, data: []byte("y")})},
		"empty batch":         {batch(rec{tag: 1, data: []byte("x")}), batch()},
		"large before last":   {batch(rec{tag: 1, data: []byte("x")}), batch(rec{tag: 2, flags: 4, size: large}, rec{tag: 3, data: []byte("y")})},
		"large of other size": {batch(rec{tag: 1, data: []byte("x")}), batch(rec{tag: 2, flags: 4, size: large}), plexus.Raw("short")},
		"unknown flags":       {batch(rec{tag: 1, data: []byte("x")}), batch(rec{tag: 2, data: []byte("y"), flags: 64})},
	}
	for name, msgs := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHub(t, transports[0], bus.Config{})
			h.mux = session.NewMux()
			_, err := h.mux.HandleStream(buslink.ServiceName, "Subscribe", func(ctx context.Context, st *session.Stream) error {
				if err := st.Recv(nil); err != nil { // the request
					return err
				}
				if err := st.Send(plexus.Raw{0x91, 0x07}); err != nil { // [subscription 7]
					return err
				}
				for _, m := range msgs {
					if err := st.Send(m); err != nil {
						return err
					}
				}
				<-ctx.Done() // the subscriber abandons the call
				return nil
			})
			require.NoError(t, err)
			ctx := testCtx(t)
			s, err := h.link().client.Subscribe(ctx, "a", bus.SubOptions{})
			require.NoError(t, err)
			d, err := s.Next(ctx)
			require.NoError(t, err, "the good batch before the bad one")
			require.Equal(t, "x", string(d.Data))
			require.NoError(t, d.Done())
			_, err = s.Next(ctx)
			requireCode(t, err, plexus.InvalidArgument)
			select {
			case <-s.Ended():
			case <-ctx.Done():
				t.Fatal("the subscription did not end")
			}
			requireCode(t, s.Err(), plexus.InvalidArgument)
			s.Unsubscribe() // after the end: returns at once
		})
	}
}
