package conformance

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/ring"
	"github.com/plexus-ipc/plexus/session"
)

// Session frame kinds and flags (DESIGN.md "Session frames") that the raw
// peer needs; the session package does not export them.
const (
	kindOpen    = 1
	kindData    = 2
	flagMsg     = 1 << 6
	rawChannels = 1000 // far above anything the raw peer could have opened
)

// rawPeer plays the callee end with the transport alone: it reads frames
// and, when the first OPEN arrives, sends a DATA frame on a channel of its
// own parity that it never opened. A conforming session must end the link
// with PROTOCOL_VIOLATION. It returns when the transport fails, which is
// when the session under test has closed the link.
func rawPeer(tr plexus.Transport, role session.Role) {
	defer tr.Close()
	never := uint64(rawChannels)
	if role == session.Initiator {
		never++ // the initiator opens odd IDs
	}
	sent := false
	var f plexus.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			return
		}
		kind := f.Desc.Kind()
		tr.Release(&f)
		if kind == kindOpen && !sent {
			sent = true
			var d ring.Desc
			d.SetKind(kindData)
			d.SetChannel(never)
			d.SetFlags(flagMsg)
			if err := tr.Send(&d, []byte("data for a channel nobody opened")); err != nil {
				return
			}
		}
	}
}
