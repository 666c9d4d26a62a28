package plugin_test

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestDoesNotLinkTLSOrNet: a plugin binary links package plugin and,
// through it, the transports; none of them may pull in crypto/tls, whose
// initialization would add a millisecond to every plugin's start whether
// it uses TLS or not, nor (but on Windows, whose socket links dial) package
// net, which with cgo enabled makes the binary load the C library at every
// start, 2-3 ms more on the test machine (DESIGN.md "Starting a plugin").
// TLS is in transport/stream/streamtls, dialing and listening in
// transport/stream/streamnet and plugin/pluginnet.
func TestDoesNotLinkTLSOrNet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/plexus-ipc/plexus/plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps gave %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		if d == "crypto/tls" || d == "crypto/x509" || d == "github.com/plexus-ipc/plexus/host" ||
			(runtime.GOOS != "windows" && (d == "net" || d == "runtime/cgo")) {
			t.Errorf("package plugin links %s", d)
		}
	}
}
