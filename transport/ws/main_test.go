//go:build !js

package ws_test

import (
	"os"
	"testing"

	"github.com/plexus-ipc/plexus/internal/xproc"
)

// TestMain lets this test binary be its own peer: a child started by xproc
// runs the helper it names and exits instead of running the tests.
//
// Under the race detector every process sleeps a second before it exits
// (GORACE atexit_sleep_ms), and the cross-process suite starts a child
// per subtest: unless the caller chose GORACE, the children skip the
// sleep. A race a child detects still fails its exit code, and so the test.
func TestMain(m *testing.M) {
	xproc.Main()
	if _, set := os.LookupEnv("GORACE"); !set {
		_ = os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}
