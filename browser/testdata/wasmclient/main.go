//go:build js && wasm

// Command wasmclient is the browser side of the figures (bench_test.go,
// TestWasmClientFigures): a plexus client as a web page would ship it,
// transport/ws's wasm client and a session, and nothing for testing. It
// dials the host that served its page and serves figures.MethodRun, with
// which the host has it measure batches of calls back to the host. It
// exits 0 when the host says the run is over (figures.Finish), 1 if the
// link ends before that.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/browser/internal/figures"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// originEnv is where the page puts its origin, http://127.0.0.1:port.
const originEnv = "PLEXUS_PAGE_ORIGIN"

// batchTimeout bounds one batch, whatever the host's call allows.
const batchTimeout = 5 * time.Minute

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wasmclient:", err)
		os.Exit(1)
	}
}

func run() error {
	origin := os.Getenv(originEnv)
	if origin == "" {
		return fmt.Errorf("%s is not set", originEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tr, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(origin, "http")+"/figures?driven=1", ws.DialConfig{})
	cancel()
	if err != nil {
		return err
	}
	isolated := js.Global().Get("crossOriginIsolated").Truthy()
	mux := session.NewMux()
	var s *session.Session
	if _, err := mux.HandleUnary(figures.Service, "Run", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		var r figures.Request
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, &plexus.Status{Code: plexus.InvalidArgument, Message: err.Error()}
		}
		// The batch's calls are a page's own calls, made with a context
		// of their own, not calls nested in Run, which inherit Run's
		// context. Nested calls would measure something else: in js/wasm
		// they cost about twice as much (about 1 ms against 0.5 ms a
		// round trip here, where native Go shows no difference). The
		// batch still ends when Run is cancelled.
		bctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		res, err := figures.Measure(bctx, s, r.Op, r.N)
		if err != nil {
			return nil, err
		}
		res.Isolated = isolated
		b, err := json.Marshal(res)
		return plexus.Raw(b), err
	}); err != nil {
		return err
	}
	finished := make(chan struct{})
	var once sync.Once
	if _, err := mux.HandleNotify(figures.Service, "Done", func(context.Context, []byte) {
		once.Do(func() { close(finished) })
	}); err != nil {
		return err
	}
	// No keepalive: its pings would be frames in the measured traffic.
	s = session.New(tr, session.Config{Role: session.Initiator, Mux: mux, KeepaliveIdle: -1})
	select {
	case <-finished:
		return s.Close()
	case <-s.Done():
		return fmt.Errorf("the link ended before the host said the run was over: %w", s.Err())
	}
}
