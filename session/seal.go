package session

import "github.com/plexus-ipc/plexus/transport"

// Seal places p in memory that the link's transport sends by reference,
// if it can (transport.Sealer: shared memory), and returns the bytes to
// send instead of p and their release. A Raw message of those bytes then
// crosses this link, and any other shared-memory link of the process,
// without a copy, and every receiver on the machine reads the same pages:
// a message fanned out to many peers is copied once, here. On other
// transports, or for a payload small enough to travel in the link's own
// memory (where a copy costs less than a sealed file), it returns p itself
// and a release that does nothing; sending copies it as any message.
func (s *Session) Seal(p []byte) (sealed []byte, release func(), err error) {
	if sl, ok := s.t.(transport.Sealer); ok {
		return sl.Seal(p)
	}
	return p, func() {}, nil
}
