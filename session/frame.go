package session

import "github.com/plexus-ipc/plexus/wire"

func newDesc(d *wire.Desc, kind wire.Kind, channel uint64, flags uint8) {
	d.Start(kind, channel, flags)
}
