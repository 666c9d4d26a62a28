package ring

import (
	"os"
	"testing"

	"github.com/plexus-ipc/plexus/internal/xproc"
)

// TestMain lets this test binary double as the helper process of the
// cross-process benchmarks: in a child, xproc.Main runs the helper and exits.
func TestMain(m *testing.M) {
	xproc.Main()
	os.Exit(m.Run())
}
