//go:build linux

package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/demos/webui/studio"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/ws"
)

const cookie = "plexus-demo-webui"

//go:embed index.html
var indexHTML []byte

// main serves the image plugin when started by the host in run; otherwise
// it is the host, and serves until interrupted.
func main() {
	demoutil.ServeIfPlugin(pluginConfig)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	var addr, web string
	var once bool
	fs := flag.NewFlagSet("webui", flag.ContinueOnError)
	fs.StringVar(&addr, "addr", "127.0.0.1:0", "address to serve the page on")
	fs.BoolVar(&once, "once", false, "exit after one Run has completed (for tests)")
	fs.StringVar(&web, "web", "", "directory of the browser client's main package (default: web/ beside this program's source)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if web == "" {
		var err error
		if web, err = webDir(); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "plexus-webui-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(out, "building the browser client (%s) for GOOS=js GOARCH=wasm, a few seconds...\n", web)
	t := time.Now()
	size, err := buildWasm(ctx, web, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "built main.wasm (%.1f MiB) in %.1f s\n", float64(size)/(1<<20), time.Since(t).Seconds())

	logger := demoutil.Logger(hclog.Warn)
	client, err := demoutil.Start(ctx, host.Config{
		Name:     "image-plugin",
		Cookie:   cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {imgproc.ProcessorServiceDesc}},
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(out, "image plugin started (pid %d), linked over shared memory\n", client.Pid())

	ran := make(chan struct{})
	var ranOnce sync.Once
	mux := session.NewMux()
	if err := studio.RegisterStudio(mux, &studioServer{
		client: client,
		proc:   imgproc.NewProcessorClient(client),
		ran:    func() { ranOnce.Do(func() { close(ran) }) },
	}); err != nil {
		return err
	}
	links := &links{}
	serveCtx, stopLinks := context.WithCancel(context.Background())
	defer stopLinks()

	h := http.NewServeMux()
	h.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	h.HandleFunc("GET /main.wasm", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "main.wasm"))
	})
	h.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "wasm_exec.js"))
	})
	h.Handle("/plexus", ws.Handler(ws.HandlerConfig{
		// A link per page: the browser opens calls (Initiator), this side
		// serves Studio (Acceptor). It ends when the page goes, or when
		// the server stops.
		Serve: func(_ context.Context, tr *ws.Transport) {
			sess := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, Logger: logger})
			if !links.add() {
				sess.Close()
				return
			}
			defer links.done()
			select {
			case <-sess.Done():
			case <-serveCtx.Done():
			}
			sess.Close()
		},
		OnRefused: func(r *http.Request, err error) { logger.Warn("refused a link", "remote", r.RemoteAddr, "err", err) },
	}))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "open http://%s/\n", ln.Addr())

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "interrupted: stopping")
	case err := <-served:
		return err
	case <-ran:
		fmt.Fprintln(out, "one run completed (-once): stopping")
		// Let the caller read the end of its call and close its link.
		links.wait(2 * time.Second)
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(shut) // the links are hijacked: they end below
	cancel()
	stopLinks()
	links.close(3 * time.Second)
	return demoutil.Close(out, client)
}

// links counts the live WebSocket links, so that the server can wait for
// them to end once it stops taking new ones.
type links struct {
	mu     sync.Mutex
	n      int
	closed bool
}

func (l *links) add() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.n++
	return true
}

func (l *links) done() {
	l.mu.Lock()
	l.n--
	l.mu.Unlock()
}

// wait waits up to d for the live links to end.
func (l *links) wait(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		n := l.n
		l.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// close refuses new links and waits up to d for the live ones to end.
func (l *links) close(d time.Duration) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wait(d)
}

// webDir is the browser client's package directory, beside this file's
// source (recorded by the compiler unless built with -trimpath).
func webDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "web")
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("cannot find the browser client's source: pass -web DIR (demos/webui/web)")
}

// buildWasm builds the main package in web for the browser into
// dir/main.wasm and copies the toolchain's wasm_exec.js beside it; it
// returns the wasm file's size.
func buildWasm(ctx context.Context, web, dir string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	wasm := filepath.Join(dir, "main.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", wasm, ".")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build %s for js/wasm: %v\n%s", web, err, b)
	}
	b, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return 0, fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(b))
	js, err := os.ReadFile(filepath.Join(root, "lib", "wasm", "wasm_exec.js"))
	if errors.Is(err, os.ErrNotExist) { // before Go 1.24
		js, err = os.ReadFile(filepath.Join(root, "misc", "wasm", "wasm_exec.js"))
	}
	if err != nil {
		return 0, fmt.Errorf("the Go toolchain's wasm_exec.js: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644); err != nil {
		return 0, err
	}
	fi, err := os.Stat(wasm)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
