package inproc_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
)

func BenchmarkInprocPingPong(b *testing.B) {
	x, y := inproc.Pipe(inproc.Config{})
	b.Cleanup(func() { _ = x.Close(); _ = y.Close() })
	transporttest.PingPong(b, x, y, 64)
}
