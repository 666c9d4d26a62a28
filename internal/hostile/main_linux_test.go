package hostile

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the role this process was started for (see the package
// comment), or the tests.
func TestMain(m *testing.M) {
	switch role := os.Getenv(envRole); role {
	case "":
		os.Exit(m.Run())
	case "host":
		os.Exit(hostMain())
	case "hostile-plugin":
		os.Exit(hostilePluginMain())
	case "victim-plugin":
		victimMain()
	case "hostile-host":
		os.Exit(hostileHostMain())
	default:
		fmt.Fprintf(os.Stderr, "hostile: unknown role %q\n", role)
		os.Exit(97)
	}
}
