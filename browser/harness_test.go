package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/browser/internal/chrome"
)

// page is the HTML that loads main.wasm with wasm_exec.js.
const page = `<!doctype html><html><head><meta charset="utf-8"><title>plexus</title></head><body>
<pre id="out">loading</pre>
<script src="wasm_exec.js"></script>
<script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => { window.plexusResult = JSON.stringify({error: String(e)}); });
</script></body></html>`

// serveWasm builds pkg for the browser and serves it with the page on
// 127.0.0.1; it returns the page's URL.
func serveWasm(t *testing.T, pkg string, mux *http.ServeMux) string {
	t.Helper()
	dir := t.TempDir()
	size, err := chrome.BuildWasm(pkg, dir)
	require.NoError(t, err)
	t.Logf("%s: main.wasm is %d bytes", pkg, size)
	if mux == nil {
		mux = http.NewServeMux()
	}
	files := http.FileServer(http.Dir(dir))
	mux.Handle("/main.wasm", files)
	mux.Handle("/wasm_exec.js", files)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func startBrowser(t *testing.T) *chrome.Browser {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := chrome.Start(ctx, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// TestHarness: a Go program compiled for the browser runs in headless
// Chromium and its result comes back: the toolchain, the browser and the
// harness work, before any plexus code is involved.
func TestHarness(t *testing.T) {
	url := serveWasm(t, "./testdata/hello", nil)
	b := startBrowser(t)
	got, err := b.Run(url, "plexusResult", 60*time.Second)
	require.NoError(t, err)
	require.JSONEq(t, `{"hello":"from wasm"}`, got)
}
