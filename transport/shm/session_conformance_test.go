//go:build linux

package shm

import (
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/shm"
)

// TestSessionConformance runs the session-level conformance suite over
// shared-memory links with both ends in this process (the callee end is
// the plugin's, opened from duplicated descriptors as a plugin would).
func TestSessionConformance(t *testing.T) {
	conformance.Run(t, conformance.InProcess("shm", conformance.MaxPayload,
		func(t *testing.T, max int) (plexus.Transport, plexus.Transport) {
			h, p := pair(t, shm.Config{Wait: 10 * time.Second}, Config{MaxPayload: max})
			return h, p
		}))
}
