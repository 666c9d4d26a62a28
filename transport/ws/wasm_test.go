//go:build !js

package ws_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// TestWasmClient builds this package's tests for GOOS=js GOARCH=wasm and
// runs TestBrowserClient (browser_js_test.go) under Node.js against an echo
// server here: the WebAssembly client, through a JavaScript WebSocket (the
// browser's API, which Node.js implements), talking to the Handler over
// loopback TCP. It skips without the go command or a Node.js that has
// WebSocket, and in -short mode (the wasm build takes a while uncached).
func TestWasmClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the wasm binary")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js to run the wasm binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Node.js 20 and 21 have WebSocket behind a flag; later ones have it
	// anyway and still accept the flag.
	if err := exec.CommandContext(ctx, node, "--experimental-websocket", "-e",
		"process.exit(typeof WebSocket === 'function' ? 0 : 3)").Run(); err != nil {
		t.Skipf("this Node.js has no WebSocket: %v", err)
	}
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOROOT").Output()
	require.NoError(t, err)
	runner := filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec_node.js")
	if _, err := os.Stat(runner); err != nil {
		t.Skipf("no wasm runner in GOROOT: %v", err)
	}

	bin := filepath.Join(t.TempDir(), "ws.test.wasm")
	build := exec.CommandContext(ctx, goCmd, "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS="+wasmGoFlags())
	out, err = build.CombinedOutput()
	require.NoError(t, err, "building the wasm test binary:\n%s", out)

	failed := make(chan error, 1)
	s := startServer(t, ws.HandlerConfig{Config: ws.Config{MaxPayload: 1 << 20}, Serve: func(_ context.Context, tr *ws.Transport) {
		go func() {
			failed <- echo(tr)
			_ = tr.Close()
		}()
	}})
	run := exec.CommandContext(ctx, node, "--experimental-websocket", "--stack-size=8192", runner, bin,
		"-test.run=^TestBrowserClient$", "-test.v", "-test.count=1")
	run.Env = append(os.Environ(), "PLEXUS_WS_TEST_URL="+s.URL)
	out, err = run.CombinedOutput()
	require.NoError(t, err, "the wasm client failed:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestBrowserClient", "%s", out)
	select {
	case err := <-failed:
		require.ErrorIs(t, err, plexus.ErrPeerDied, "the server's end must see the client leave")
	case <-time.After(10 * time.Second):
		t.Fatal("the server's end did not see the wasm client close")
	}
}

// wasmGoFlags is GOFLAGS without -race, which js/wasm does not support.
func wasmGoFlags() string {
	var keep []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if f != "-race" && f != "-race=true" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
