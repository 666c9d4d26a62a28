package session

import (
	"context"
	"strconv"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// BenchmarkIdempotent: a unary call over shared memory (both sessions in
// this process) to a method described idempotent, with the serving side's
// cache off (plain: no key, the usual call), on with a new key per call
// (the handler runs and its result is kept), and on with one key (the
// repeat, answered from the cache).
func BenchmarkIdempotent(b *testing.B) {
	run := func(b *testing.B, cache *IdempotencyCache, key func(i int) string) {
		m := NewMux()
		id, err := m.HandleUnary("bench.Idem", "Get", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			return plexus.Raw(req), nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Describe(plexus.ServiceDesc{Name: "bench.Idem", Methods: []plexus.MethodDesc{{Name: "Get", Kind: plexus.Unary, Idempotent: true}}}); err != nil {
			b.Fatal(err)
		}
		ta, tb, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
		if err != nil {
			b.Fatal(err)
		}
		log := hclog.NewNullLogger()
		c := New(ta, Config{Role: Initiator, Logger: log, KeepaliveIdle: -1})
		s := New(tb, Config{Role: Acceptor, Mux: m, Logger: log, KeepaliveIdle: -1, Idempotency: cache})
		defer func() { c.Close(); s.Close() }()
		req := plexus.Raw("0123456789abcdef")
		resp := make(plexus.Raw, 0, 64)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			ctx := context.Background()
			if key != nil {
				ctx = plexus.WithMetadata(ctx, plexus.Metadata{IdempotencyKey: key(i)})
			}
			if err := c.Invoke(ctx, id, req, &resp); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, nil, nil) })
	b.Run("new-key", func(b *testing.B) {
		run(b, NewIdempotencyCache(IdempotencyLimits{}), func(i int) string { return "k" + strconv.Itoa(i) })
	})
	b.Run("repeat", func(b *testing.B) {
		run(b, NewIdempotencyCache(IdempotencyLimits{}), func(int) string { return "same" })
	})
}
