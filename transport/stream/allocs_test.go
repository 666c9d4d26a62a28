package stream_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/wire"
)

// TestLargeSendAllocs: a frame whose payload is written beside the write
// buffer (above 4 KiB: one writev through the socket's RawConn) allocates
// nothing on the sending side in steady state, as the package comment
// says; nor does the receiver's Recv and Release.
func TestLargeSendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	x, y := benchPair(t)
	payload := make([]byte, 64<<10)
	const runs = 200
	done := drain(y, runs+1)
	var d wire.Desc
	send := func() {
		d.Reset()
		if err := x.Send(&d, payload); err != nil {
			t.Fatal(err)
		}
	}
	send() // the pools' first buffers
	if n := testing.AllocsPerRun(runs-1, send); n != 0 {
		t.Errorf("%v allocations a large Send", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
