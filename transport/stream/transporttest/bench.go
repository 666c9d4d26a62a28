package transporttest

import (
	"testing"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Echo sends every frame tr receives back, until the link fails: the far
// end of PingPong.
func Echo(tr transport.Transport) {
	var f transport.Frame
	for tr.Recv(&f) == nil {
		err := tr.Send(&f.Desc, f.Payload)
		tr.Release(&f)
		if err != nil {
			return
		}
	}
}

// PingPong benchmarks round trips of one frame with a payloadSize-byte
// payload from x to an Echo on y, reporting allocations; one round trip is
// one op. The caller sets the bytes per op, if it wants them, and closes
// the pair.
func PingPong(b *testing.B, x, y transport.Transport, payloadSize int) {
	go Echo(y)
	payload := make([]byte, payloadSize)
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
