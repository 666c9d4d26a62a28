package shapetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/shmlink"
	"github.com/stretchr/testify/require"
)

func init() {
	xproc.Register("shapetest-serve", func() int {
		tr, err := shmlink.OpenInherited(3, shm.Config{}, shmlink.Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "shapetest child:", err)
			return 1
		}
		mux := session.NewMux()
		if err := RegisterShapes(mux, newImpl()); err != nil {
			fmt.Fprintln(os.Stderr, "shapetest child:", err)
			return 1
		}
		s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
		<-s.Done()
		return 0
	})
}

// BenchmarkGeneratedUnary: a generated unary call (two int64 arguments,
// one int64 result) over shared memory, to compare with transport/shmlink's
// BenchmarkSessionUnary (the session's Invoke with a pre-encoded
// message). "cross-process" serves it from a child process, so allocs/op
// is the caller's side alone; "in-process" counts both sides.
func BenchmarkGeneratedUnary(b *testing.B) {
	for _, mode := range []string{"cross-process", "in-process"} {
		b.Run(mode, func(b *testing.B) {
			var host transport.Transport
			if mode == "cross-process" {
				l, err := shmlink.NewLink(shm.Config{})
				require.NoError(b, err)
				child := xproc.Start(b, "shapetest-serve", l.PluginFiles(), nil)
				l.ClosePluginFiles()
				tr, err := l.Transport(shmlink.Config{})
				require.NoError(b, err)
				host = tr
				b.Cleanup(func() {
					_ = tr.Close()
					if err := child.Wait(30 * time.Second); err != nil {
						b.Errorf("child: %v", err)
					}
				})
			} else {
				a, p, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
				require.NoError(b, err)
				host = a
				mux := session.NewMux()
				require.NoError(b, RegisterShapes(mux, newImpl()))
				server := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
				b.Cleanup(func() { _ = server.Close() })
			}
			s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
			b.Cleanup(func() { _ = s.Close() })
			c := NewShapesClient(s)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				sum, err := c.Add(ctx, int64(i), 1)
				if err != nil || sum != int64(i)+1 {
					b.Fatal(sum, err)
				}
			}
		})
	}
}
