//go:build linux

package shmlink

import (
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
)

// TestSessionConformance runs the session-level conformance suite over
// shared-memory links with both ends in this process (the callee end is
// the plugin's, opened from duplicated descriptors as a plugin would).
func TestSessionConformance(t *testing.T) {
	conformance.Run(t, conformance.InProcess("shm", conformance.MaxPayload,
		func(t *testing.T, max int) (transport.Transport, transport.Transport) {
			h, p := pair(t, shm.Config{Wait: 10 * time.Second}, Config{MaxPayload: max})
			return h, p
		}))
}
