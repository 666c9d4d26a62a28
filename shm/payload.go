package shm

import "github.com/plexus-ipc/plexus/wire"

// Pre-declared so that rejecting a descriptor does not allocate.
var (
	errBothPayloads = newDescError("both INLINE and SLOT set")
	errReservedBits = newDescError("reserved bits set")
	errInlineLen    = newDescError("inline length exceeds 28 bytes")
	errStrayLength  = newDescError("length without a payload")
)

func newDescError(what string) error { return &DescError{What: what} }

// DescError reports a descriptor that violates the format.
type DescError struct{ What string }

func (e *DescError) Error() string { return "shm: bad descriptor: " + e.What }

// Unwrap makes a bad descriptor a protocol violation.
func (e *DescError) Unwrap() error { return ErrProtocol }

// resolvePayload validates a descriptor copy and returns its payload. The
// descriptor must be a private copy (as ring.Consumer.Pop makes): the
// returned inline view aliases it.
func resolvePayload(d *wire.Desc, peer *Pool) ([]byte, error) {
	// The session layer owns bits 4-7 and checks them itself.
	if d.HasReservedBits() {
		return nil, errReservedBits
	}
	f := d.Flags()
	switch f & (wire.FlagInline | wire.FlagSlot) {
	case wire.FlagInline:
		if d.Length() > wire.InlineMax {
			return nil, errInlineLen
		}
		return d.Inline(), nil
	case wire.FlagSlot:
		return peer.Resolve(d.Slot(), d.Gen(), d.Offset(), d.Length())
	case 0:
		if d.Length() != 0 {
			return nil, errStrayLength
		}
		return nil, nil
	default:
		return nil, errBothPayloads
	}
}
