//go:build !js

package ws_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
)

// TestTransportSuite runs the transport suite over a WebSocket on loopback
// TCP, the dialing end against the accepted one. Zero allocations hold
// because Handler and Dial keep the network connection: the library's
// calls then get a context that is never done, and it allocates nothing
// per message to watch one.
func TestTransportSuite(t *testing.T) {
	transporttest.Run(t, wsPair, transporttest.Options{ZeroAllocs: true})
}
