package conformance_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/conformance"
)

// TestConformance runs the suite against the in-process pipe and the
// stream transport over a socketpair, a Unix socket and TCP.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.StandardEnvs()...)
}
