//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/webui/studio"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// demo is the program running as a separate process.
type demo struct {
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port/
	mu   sync.Mutex
	out  bytes.Buffer // stdout so far
	exit chan error
}

func (d *demo) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// startDemo builds the program and starts it on 127.0.0.1 with args, and
// waits for it to say where it serves (it builds its wasm first). Cleanup
// stops it if it still runs.
func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "webui")
	b, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	web, err := filepath.Abs("web")
	require.NoError(t, err)

	d := &demo{exit: make(chan error, 1)}
	d.cmd = exec.Command(exe, append([]string{"-addr", "127.0.0.1:0", "-web", web}, args...)...)
	d.cmd.Stderr = os.Stderr
	stdout, err := d.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, d.cmd.Start())
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.out.WriteString(line + "\n")
			d.mu.Unlock()
			if u, ok := strings.CutPrefix(line, "open "); ok {
				urls <- u
			}
		}
		d.exit <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.exit:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
		}
	})
	select {
	case d.url = <-urls:
	case err := <-d.exit:
		d.exit <- err
		t.Fatalf("the demo exited (%v) before serving:\n%s", err, d.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("the demo did not serve within 3 minutes:\n%s", d.output())
	}
	return d
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	return resp, b
}

// TestDemo runs the program with -once, checks what it serves, calls Run
// with a Go client over the same WebSocket endpoint the page uses, and
// waits for the program to stop on its own.
func TestDemo(t *testing.T) {
	d := startDemo(t, "-once")
	out := d.output()
	require.Contains(t, out, "building the browser client (")
	require.Contains(t, out, "image plugin started (pid ")

	resp, page := get(t, d.url)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	for _, want := range []string{"<title>plexus studio", `<button id="run"`, `<ol id="steps">`, `<img id="result"`, "main.wasm", "wasm_exec.js"} {
		require.Contains(t, string(page), want)
	}
	resp, wasm := get(t, d.url+"main.wasm")
	require.Equal(t, "application/wasm", resp.Header.Get("Content-Type"))
	require.True(t, bytes.HasPrefix(wasm, []byte("\x00asm")), "main.wasm is WebAssembly")
	_, js := get(t, d.url+"wasm_exec.js")
	require.True(t, bytes.Contains(js, []byte("globalThis.Go = class")), "wasm_exec.js is the toolchain's")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := ws.Dial(ctx, "ws://"+strings.TrimPrefix(d.url, "http://")+"plexus", ws.DialConfig{})
	require.NoError(t, err)
	sess := session.New(tr, session.Config{Role: session.Initiator})
	client := studio.NewStudioClient(sess)

	// A request out of bounds fails with InvalidArgument and does not
	// count as the run -once waits for.
	err = client.Run(ctx, 1, 1, 0, func(studio.Step) error { return nil })
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)

	var stages []string
	var result []byte
	require.NoError(t, client.Run(ctx, 512, 384, 4, func(st studio.Step) error {
		stages = append(stages, st.Stage)
		require.GreaterOrEqual(t, st.Millis, 0.0, st.Stage)
		if st.Stage == studio.StageDone {
			result = st.PNG
		} else {
			require.Empty(t, st.PNG, st.Stage)
		}
		return nil
	}))
	require.Equal(t, []string{"draw", "plugin: grayscale", "plugin: blur", "plugin: halve", "encode", "done"}, stages)
	img, err := png.Decode(bytes.NewReader(result))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 256, 192), img.Bounds())
	require.NoError(t, sess.Close())

	// -once: the program stops by itself, cleanly, once the link is gone.
	select {
	case err := <-d.exit:
		require.NoError(t, err, d.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("the demo did not exit after its run:\n%s", d.output())
	}
	out = d.output()
	require.Contains(t, out, "one run completed (-once): stopping\n")
	require.True(t, strings.HasSuffix(out, "closed the plugin: ok\n"), out)
}
