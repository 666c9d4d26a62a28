package chrome

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary: PLEXUS_CHROMIUM if set, else Debian's
// /usr/bin/chromium, else "chromium" on PATH. The error says how to
// install it.
func Path() (string, error) {
	if p := os.Getenv("PLEXUS_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if found, err := exec.LookPath(p); err == nil {
			return found, nil
		}
	}
	return "", errors.New("no Chromium found: run scripts/install-browser.sh (Debian's chromium package), " +
		"or set PLEXUS_CHROMIUM to a Chromium or Chrome binary")
}

// Browser is one headless Chromium process.
type Browser struct {
	ctx    context.Context
	cancel func()
}

// Start starts headless Chromium with a fresh profile in dir. The flags
// keep it from reaching for the network (this machine has none: its
// background requests would fail, many at a time) and from needing a
// sandbox or a GPU.
func Start(ctx context.Context, dir string) (*Browser, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// Start the browser now, so that a missing or broken one fails here.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return &Browser{ctx: bctx, cancel: func() { bcancel(); acancel() }}, nil
}

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Run loads url and waits, up to timeout, for the page to set the global
// variable done to a string (its result, typically JSON), which it
// returns. A page that fails sets it too, with what failed: the caller
// decides.
func (b *Browser) Run(url, done string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return "", fmt.Errorf("loading %s: %w", url, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Poll[string]("typeof window."+done+" === 'string' ? window."+done+" : null",
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		return "", fmt.Errorf("page %s did not set %s within %v: %w", url, done, timeout, err)
	}
	return out, nil
}

// Screenshot returns a PNG of the current page's viewport.
func (b *Browser) Screenshot(timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}
