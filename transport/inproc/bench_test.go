package inproc_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/wire"
)

func BenchmarkInprocPingPong(b *testing.B) {
	x, y := inproc.Pipe(inproc.Config{})
	b.Cleanup(func() { _ = x.Close(); _ = y.Close() })
	go func() {
		var f transport.Frame
		for y.Recv(&f) == nil {
			err := y.Send(&f.Desc, f.Payload)
			y.Release(&f)
			if err != nil {
				return
			}
		}
	}()
	payload := make([]byte, 64)
	var d wire.Desc
	var f transport.Frame
	b.ReportAllocs()
	for b.Loop() {
		d.Reset()
		if err := x.Send(&d, payload); err != nil {
			b.Fatal(err)
		}
		if err := x.Recv(&f); err != nil {
			b.Fatal(err)
		}
		x.Release(&f)
	}
}
