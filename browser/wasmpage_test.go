package browser

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/browser/internal/chrome"
)

// originEnv names the variable through which a page hands its Go program
// the page's own origin (http://127.0.0.1:port), where the program finds
// the host's endpoints. The wasm programs spell it too.
const originEnv = "PLEXUS_PAGE_ORIGIN"

// programPage runs one Go program compiled for js/wasm (a main package or
// a test binary) with the arguments and environment of pageConfig, and
// reports its end through window.plexusResult, a JSON pageResult. The
// program's stdout and stderr reach the page through wasm_exec.js, which
// writes them with console.log: the page collects them there (in
// window.plexusOutput, which chrome.Browser.Eval can read if the program
// never ends) instead of letting them go to the console. The exit code
// comes from go.exit, which wasm_exec.js calls when the program exits,
// before go.run's promise settles; a program that cannot even start
// (a missing file, a trap) is reported with code -1 and the error.
//
// The configuration is JSON in a script element: html/template escapes it
// for that context, whatever the regular expressions in it hold.
var programPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>plexus</title></head><body>
<pre id="out">running</pre>
<script src="wasm_exec.js"></script>
<script>
const cfg = {{.}};
const output = [];
window.plexusOutput = output;
console.log = (...args) => { output.push(args.join(" ") + "\n"); };
let finished = false;
function finish(code, error) {
  if (finished) return;
  finished = true;
  const figure = typeof globalThis.plexusFigure === "string" ? globalThis.plexusFigure : "";
  document.getElementById("out").textContent = "exit " + code;
  window.plexusResult = JSON.stringify({code: code, output: output.join(""), figure: figure, error: error});
}
const go = new Go();
go.argv = cfg.argv;
go.env = Object.assign({}, cfg.env, {` + originEnv + `: location.origin});
go.exit = (code) => finish(code, "");
WebAssembly.instantiateStreaming(fetch(cfg.wasm), go.importObject)
  .then((r) => go.run(r.instance))
  .then(() => finish(-1, "the program ended without exiting"))
  .catch((e) => finish(-1, String(e)));
</script></body></html>`))

// pageConfig is what programPage runs: the wasm file (served beside the
// page), its arguments (argv[0] first) and its environment.
type pageConfig struct {
	Wasm string            `json:"wasm"`
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env"`
}

// pageResult is what programPage reports.
type pageResult struct {
	Code   int    `json:"code"`
	Output string `json:"output"`
	// Figure is what the program left in the global plexusFigure (a
	// string, typically JSON), or empty.
	Figure string `json:"figure"`
	Error  string `json:"error"`
}

// handleProgram serves, on mux, the page that runs cfg at "/" and the
// files of dir (the wasm binary and wasm_exec.js) beside it.
//
// The page and its files are sent cross-origin isolated (COOP and COEP):
// the browser then gives performance.now(), on which the Go runtime's
// clock rests in js/wasm, a resolution of microseconds instead of 100 µs,
// which matters to the figures. Nothing here loads anything from another
// origin, and WebSocket connections are not subject to COEP.
func handleProgram(mux *http.ServeMux, dir string, cfg pageConfig) {
	files := http.FileServer(http.Dir(dir))
	mux.Handle("GET /"+cfg.Wasm, isolated(files))
	mux.Handle("GET /wasm_exec.js", isolated(files))
	mux.Handle("GET /{$}", isolated(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		if err := programPage.Execute(&b, cfg); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})))
}

func isolated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// serveLoopback serves h on a free port of 127.0.0.1, and on no other
// address whatever httptest's flags say, until the test ends.
func serveLoopback(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

// launchChromium starts a browser for tb (startBrowser's counterpart for
// benchmarks as well as tests), stopped when tb ends.
func launchChromium(tb testing.TB) *chrome.Browser {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	b, err := chrome.Start(ctx, tb.TempDir())
	require.NoError(tb, err)
	tb.Cleanup(b.Close)
	return b
}

// runProgram loads the page at url and waits up to timeout for its
// result. If the page never reports, the error carries the output the
// program produced so far, which is where a hang shows what it was doing.
func runProgram(b *chrome.Browser, url string, timeout time.Duration) (pageResult, error) {
	var res pageResult
	raw, err := b.Run(url, "plexusResult", timeout)
	if err != nil {
		out, evalErr := b.Eval("(window.plexusOutput || []).join('')", 10*time.Second)
		if evalErr != nil {
			out = fmt.Sprintf("(the output could not be read either: %v)", evalErr)
		}
		return res, fmt.Errorf("%w; output so far:\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		return res, fmt.Errorf("the page's result %q: %w", raw, err)
	}
	return res, nil
}

// bundleSize returns the size of a wasm file as served raw and as
// compress/gzip at its default level compresses it, which is about what
// a web server's gzip sends.
func bundleSize(path string) (raw, gzipped int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var n countWriter
	zw := gzip.NewWriter(&n)
	if _, err := zw.Write(data); err != nil {
		return 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return int64(len(data)), int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// logWriter is an io.Writer (for a callee's hclog logger) that logs
// through t until the test ends and drops what comes later: a goroutine
// that outlives its test must not call t.Log, which panics then.
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newLogWriter(t testing.TB) *logWriter {
	w := &logWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}
