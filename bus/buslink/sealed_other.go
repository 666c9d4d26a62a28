//go:build !linux

package buslink

import "github.com/plexus-ipc/plexus/bus"

// Sealed returns a message of data for the host's bus (set its Subject,
// and Header if any, before Publish). On Linux, data longer than
// LargeData is copied once into sealed memory that every subscriber on
// the machine reads in place; here there is no shared-memory link, and
// data is used as it is: the bus owns it from Publish on.
func Sealed(data []byte) (*bus.Message, error) {
	return &bus.Message{Data: data}, nil
}
