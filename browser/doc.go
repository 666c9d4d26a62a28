// Package browser holds plexus's tests that run in a real browser: the
// WebSocket transport's browser client (transport/ws, compiled with
// GOOS=js GOARCH=wasm) against a Go host, driven in headless Chromium
// through the DevTools protocol (github.com/chromedp/chromedp, which needs
// no driver binary). It is a Go module of its own, so that the core's
// go.mod does not carry the browser driver: users of plexus neither
// download nor link it.
//
// The browser is Debian's chromium package (scripts/install-browser.sh
// installs it; test.sh runs that script). Where it is missing the tests
// fail, saying how to install it: a browser test that skips would pass
// without a browser.
//
// Lifetime and concurrency: each test starts its own browser (a fresh
// profile in a temporary directory) and its own HTTP server on
// 127.0.0.1, and stops both when it ends; tests may run in parallel.
package browser
