package buslink

import (
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// Sealed returns a message of data for the host's bus (set its Subject,
// and Header if any, before Publish) that reaches every subscriber with
// one copy in all: data longer than LargeData is copied once into a
// sealed memfd (shmlink.Seal), which the host's subscribers read in
// place and the pumps send to plugins over shared memory by reference,
// each plugin mapping the same pages. The message's Payload releases the
// host's view after the last delivery (receivers keep theirs until their
// Done). Shorter data, and data on other systems, is used as it is: the
// bus owns it from Publish on.
func Sealed(data []byte) (*bus.Message, error) {
	if len(data) <= LargeData {
		return &bus.Message{Data: data}, nil
	}
	sb, err := shmlink.Seal(data)
	if err != nil {
		return nil, err
	}
	return &bus.Message{Data: sb.Bytes(), Payload: sb}, nil
}
