package conformance

import (
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// rawChannels is far above anything the raw peer could have opened.
const rawChannels = 1000

// rawPeer plays the callee end with the transport alone: it reads frames
// and, when the first OPEN arrives, sends a DATA frame on a channel of its
// own parity that it never opened. A conforming session must end the link
// with PROTOCOL_VIOLATION. It returns when the transport fails, which is
// when the session under test has closed the link.
func rawPeer(tr transport.Transport, role session.Role) {
	defer tr.Close()
	never := uint64(rawChannels)
	if role == session.Initiator {
		never++ // the initiator opens odd IDs
	}
	sent := false
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			return
		}
		kind := f.Desc.Kind()
		tr.Release(&f)
		if kind == wire.KindOpen && !sent {
			sent = true
			var d wire.Desc
			d.SetKind(wire.KindData)
			d.SetChannel(never)
			d.SetFlags(wire.FlagMsg)
			if err := tr.Send(&d, []byte("data for a channel nobody opened")); err != nil {
				return
			}
		}
	}
}
