package otelplexus

import (
	"fmt"
	"os"
	"testing"
)

// The test binary is also the test plugin: modeEnv set to "plugin" makes
// it serve otest.Plugin (plugin_test.go) when the cross-process test
// starts it.
const modeEnv = "OTELPLEXUS_TEST_MODE"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(modeEnv); mode {
	case "":
		os.Exit(m.Run())
	case "plugin":
		servePlugin()
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv, mode)
		os.Exit(97)
	}
}
