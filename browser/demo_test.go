package browser

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
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
)

// TestDemoWebUI runs demos/webui as its user would: the program builds its
// browser client, starts its image plugin and serves the page on
// 127.0.0.1; headless Chromium loads the page, whose Go (WebAssembly)
// calls the host over a WebSocket link and shows what comes back. The
// test checks the page's summary of the run, that a screenshot of the
// page is not blank, and that the program stops cleanly when interrupted.
func TestDemoWebUI(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	exe := filepath.Join(t.TempDir(), "webui")
	build := exec.Command("go", "build", "-o", exe, "./demos/webui")
	build.Dir = root
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./demos/webui: %s", b)

	cmd := exec.Command(exe, "-addr", "127.0.0.1:0", "-web", filepath.Join(root, "demos", "webui", "web"))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var mu sync.Mutex
	var out strings.Builder
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	urls, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if u, ok := strings.CutPrefix(sc.Text(), "open "); ok {
				urls <- u
			}
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The program builds its wasm before it serves: a few seconds, more
	// on a cold build cache.
	var url string
	select {
	case url = <-urls:
	case err := <-exited:
		stopped = true
		t.Fatalf("the demo exited (%v) before serving:\n%s", err, output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("the demo did not serve within 3 minutes:\n%s", output())
	}

	// What the page costs to load.
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url + "main.wasm")
	require.NoError(t, err)
	wasm, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(wasm)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	t.Logf("main.wasm: %d bytes (%.1f MiB), %d bytes gzipped (%.1f MiB)",
		len(wasm), float64(len(wasm))/(1<<20), gz.Len(), float64(gz.Len())/(1<<20))

	br := startBrowser(t)
	got, err := br.Run(url, "plexusResult", 3*time.Minute)
	require.NoError(t, err, output())
	t.Logf("page: %s", got)
	var sum struct {
		Error    string   `json:"error"`
		Steps    []string `json:"steps"`
		Width    int      `json:"width"`
		Height   int      `json:"height"`
		PNGBytes int      `json:"pngBytes"`
	}
	require.NoError(t, json.Unmarshal([]byte(got), &sum))
	require.Empty(t, sum.Error)
	require.Equal(t, []string{"draw", "plugin: grayscale", "plugin: blur", "plugin: halve", "encode", "done"}, sum.Steps)
	require.Equal(t, 256, sum.Width)
	require.Equal(t, 192, sum.Height)
	require.Greater(t, sum.PNGBytes, 1000)

	// The page shows something: most of the viewport is not white (the
	// page is dark) and it is not one colour (text, the list, the image).
	shot, err := br.Screenshot(30 * time.Second)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	nonWhite, colors, total := pixelStats(img)
	t.Logf("screenshot: %v, %.0f%% not white, %d colours", img.Bounds().Size(), 100*float64(nonWhite)/float64(total), colors)
	require.Greater(t, float64(nonWhite)/float64(total), 0.5, "the page looks blank")
	require.Greater(t, colors, 2000, "the page looks uniform (is the image shown?)")

	// Interrupted, the program stops its links and its plugin.
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-exited:
		stopped = true
		require.NoError(t, err, output())
	case <-time.After(20 * time.Second):
		t.Fatalf("the demo did not stop within 20 s of an interrupt:\n%s", output())
	}
	require.True(t, strings.HasSuffix(output(), "closed the plugin: ok\n"), output())
}

// pixelStats counts img's pixels that are not (nearly) white, its distinct
// colours, and its pixels.
func pixelStats(img image.Image) (nonWhite, colors, total int) {
	seen := map[[3]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				nonWhite++
			}
			seen[[3]uint32{cr >> 8, cg >> 8, cb >> 8}] = true
			total++
		}
	}
	return nonWhite, len(seen), total
}
