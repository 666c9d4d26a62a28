package stream

import (
	"encoding/binary"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// On a stream the payload always follows the descriptor, so every bit of
// the transport's nibble (wire.TransportFlags) must be zero on the wire;
// Send clears INLINE and SLOT (they describe placement, which is the
// transport's business) and refuses the reserved ones. The session owns
// the upper nibble.

// checkDesc applies SPEC.md "Frames on stream transports" to a
// descriptor read from the peer. The length check comes before the payload
// is allocated, so a peer cannot make this side reserve memory above max.
func checkDesc(d *wire.Desc, max int) *plexus.Status {
	if r := d.Reserved(); r != 0 {
		return plexus.Errorf(plexus.ProtocolViolation, "stream: descriptor reserved field is %#04x, want 0", r)
	}
	if fl := d.Flags(); fl&wire.TransportFlags != 0 {
		return plexus.Errorf(plexus.ProtocolViolation, "stream: descriptor flags %#02x set INLINE, SLOT or reserved bits", fl)
	}
	tail := uint64(binary.LittleEndian.Uint32(d[wire.InlineOffset:])) |
		binary.LittleEndian.Uint64(d[40:]) |
		binary.LittleEndian.Uint64(d[48:]) |
		binary.LittleEndian.Uint64(d[56:])
	if tail != 0 {
		return plexus.Errorf(plexus.ProtocolViolation, "stream: descriptor bytes 36..63 are not zero")
	}
	if n := d.Length(); uint64(n) > uint64(max) {
		return plexus.Errorf(plexus.ProtocolViolation, "stream: frame length %d exceeds the %d-byte limit", n, max)
	}
	return nil
}
