package browser

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/browser/internal/chrome"
	"github.com/plexus-ipc/plexus/browser/internal/figures"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// Bounds of the figures' runs: the client's start (page load, wasm
// compilation, the link), one batch (testing.B's N may be large), and the
// client's exit once told the run is over.
const (
	clientStartTimeout = time.Minute
	batchTimeout       = 5 * time.Minute
	clientExitTimeout  = 30 * time.Second
)

// BenchmarkUnaryRoundTrip: a unary call with a 16-byte request echoed
// back, from the wasm client in headless Chromium and from a Go client in
// this process, both over transport/ws on loopback to the same Go host.
// The browser's figure is its own clock's (performance.now()), reported
// as ns/op; the page load and the wasm compilation are not in it.
func BenchmarkUnaryRoundTrip(b *testing.B) { benchFigure(b, figures.Unary) }

// BenchmarkUpload1MiB: a 1 MiB request from the client to the host,
// answered with its length, from the same two clients; MB/s is the
// payload's.
func BenchmarkUpload1MiB(b *testing.B) { benchFigure(b, figures.Upload) }

func benchFigure(b *testing.B, op string) {
	h := startFigureHost(b)
	wc := h.openClient(b, launchChromium(b))
	b.Run("wasm-chromium", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
		r, err := figures.Ask(ctx, wc.s, op, b.N)
		if err != nil {
			b.Fatal(err)
		}
		// testing's own ns/op would include the request for the batch.
		b.ReportMetric(r.NsPerOp, "ns/op")
		if op == figures.Upload {
			b.ReportMetric(figures.UploadSize/r.NsPerOp*1e3, "MB/s")
		}
		// What the page loaded, on the line of the figure (a parent
		// benchmark's log is not printed once it has sub-benchmarks).
		b.ReportMetric(float64(h.wasmRaw), "wasm-B")
		b.ReportMetric(float64(h.wasmGzip), "wasm-gzip-B")
	})
	b.Run("go", func(b *testing.B) {
		call, err := figures.NewCall(h.dialGo(b), op)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
		for range figures.Warmup { // as the wasm client does
			if err := call(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if op == figures.Upload {
			b.SetBytes(figures.UploadSize)
		}
		for b.Loop() {
			if err := call(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestWasmClient runs the figures' wasm client in headless Chromium for a
// few calls of each kind, as the benchmarks do: the calls come back right
// (the client checks each answer) and arrive at the host (which counts
// them), the page is cross-origin isolated (so the browser's clock is
// fine enough for the figures), and the client exits 0 when told the run
// is over. It logs the client's size, raw and gzipped: what a page that
// uses plexus over WebSocket ships.
func TestWasmClient(t *testing.T) {
	h := startFigureHost(t)
	wc := h.openClient(t, launchChromium(t))
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for _, c := range []struct {
		op     string
		n      int
		served func() int64
	}{
		{figures.Unary, 50, h.calls.Echoed.Load},
		{figures.Upload, 5, h.calls.Sunk.Load},
	} {
		r, err := figures.Ask(ctx, wc.s, c.op, c.n)
		require.NoError(t, err)
		require.Equal(t, c.op, r.Op)
		require.Equal(t, c.n, r.N)
		require.Positive(t, r.NsPerOp)
		require.True(t, r.Isolated, "the page is not cross-origin isolated: the browser's clock is coarse")
		require.Equal(t, int64(figures.Warmup+c.n), c.served(), "%s calls the host answered", c.op)
		t.Logf("%s from Chromium: %.0f ns per call over %d calls", c.op, r.NsPerOp, r.N)
	}
	wc.finish(t)
}

// figureHost is the Go host of the figures: it serves the wasm client's
// page and, at /figures, the figures' methods over transport/ws to any
// client. The link the page's client opens (?driven=1) is also handed to
// the test, which asks the client for batches over it.
type figureHost struct {
	base   string // http://127.0.0.1:port
	calls  figures.Host
	driven chan *session.Session

	// The wasm client's size, raw and gzipped (compress/gzip's default
	// level).
	wasmRaw, wasmGzip int64

	mu       sync.Mutex
	sessions []*session.Session
}

type drivenKey struct{}

// startFigureHost builds the wasm client, logs its size, and serves it.
func startFigureHost(tb testing.TB) *figureHost {
	tb.Helper()
	dir := tb.TempDir()
	_, err := chrome.BuildWasm("./testdata/wasmclient", dir)
	require.NoError(tb, err)
	raw, gz, err := bundleSize(dir + "/main.wasm")
	require.NoError(tb, err)
	tb.Logf("wasm client (testdata/wasmclient, transport/ws and session): %d bytes raw, %d bytes gzipped", raw, gz)

	h := &figureHost{driven: make(chan *session.Session, 1), wasmRaw: raw, wasmGzip: gz}
	up := ws.Handler(ws.HandlerConfig{Serve: h.serve})
	mux := http.NewServeMux()
	mux.Handle("/figures", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		driven := r.URL.Query().Get("driven") == "1"
		up.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), drivenKey{}, driven)))
	}))
	handleProgram(mux, dir, pageConfig{Wasm: "main.wasm", Argv: []string{"main.wasm"}})
	srv := serveLoopback(tb, mux)
	h.base = srv.URL
	tb.Cleanup(h.closeAll) // before the server's Close: cleanups run last first
	return h
}

// serve runs the host's end of a link. Neither end pings (no keepalive):
// pings would be frames in the measured traffic.
func (h *figureHost) serve(ctx context.Context, tr *ws.Transport) {
	mux := session.NewMux()
	if err := h.calls.Register(mux); err != nil {
		_ = tr.Close()
		return
	}
	s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	h.mu.Lock()
	h.sessions = append(h.sessions, s)
	h.mu.Unlock()
	if driven, _ := ctx.Value(drivenKey{}).(bool); driven {
		select {
		case h.driven <- s:
		default: // a second page: nobody drives it
			_ = s.Close()
		}
	}
}

func (h *figureHost) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		_ = s.Close()
	}
	h.sessions = nil
}

// dialGo connects a Go client in this process, as the wasm client
// connects from the browser.
func (h *figureHost) dialGo(tb testing.TB) *session.Session {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientStartTimeout)
	defer cancel()
	tr, err := ws.Dial(ctx, "ws"+h.base[len("http"):]+"/figures", ws.DialConfig{})
	require.NoError(tb, err)
	s := session.New(tr, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// wasmClient is the wasm client running in a page: s is the host's end
// of its link, over which the test asks it for batches.
type wasmClient struct {
	s    *session.Session
	page chan pageRun
	once sync.Once
}

type pageRun struct {
	res pageResult
	err error
}

// openClient loads the client's page in b and waits for its link. The
// page runs until the client exits; finish ends it, and so does the
// test's cleanup if the test did not.
func (h *figureHost) openClient(tb testing.TB, b *chrome.Browser) *wasmClient {
	tb.Helper()
	wc := &wasmClient{page: make(chan pageRun, 1)}
	go func() {
		res, err := runProgram(b, h.base+"/", batchTimeout)
		wc.page <- pageRun{res, err}
	}()
	timer := time.NewTimer(clientStartTimeout)
	defer timer.Stop()
	select {
	case wc.s = <-h.driven:
	case r := <-wc.page:
		tb.Fatalf("the page ended before its client connected: %v: %+v", r.err, r.res)
	case <-timer.C:
		tb.Fatalf("the wasm client did not connect within %v", clientStartTimeout)
	}
	tb.Cleanup(func() { wc.finish(tb) })
	return wc
}

// finish tells the client the run is over and checks that it exits 0.
func (wc *wasmClient) finish(tb testing.TB) {
	tb.Helper()
	wc.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), clientExitTimeout)
		defer cancel()
		if err := figures.Finish(ctx, wc.s); err != nil {
			tb.Errorf("telling the wasm client the run is over: %v", err)
			return
		}
		timer := time.NewTimer(clientExitTimeout)
		defer timer.Stop()
		select {
		case r := <-wc.page:
			if r.err != nil || r.res.Code != 0 || r.res.Error != "" {
				tb.Errorf("the wasm client did not exit cleanly: %v: code %d %s\n%s", r.err, r.res.Code, r.res.Error, r.res.Output)
			}
		case <-timer.C:
			tb.Errorf("the wasm client did not exit within %v of the end of the run", clientExitTimeout)
		}
	})
}
