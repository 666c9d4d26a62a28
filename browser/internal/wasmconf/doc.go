// Package wasmconf holds the browser half of the session conformance run:
// a test, built only for GOOS=js GOARCH=wasm, that runs conformance.Run
// with an Env whose links are WebSockets dialed from the browser (through
// transport/ws's wasm client) to the Go test process that serves the page.
// The browser package's TestConformance builds it with go test -c, loads
// it in headless Chromium and reads its verdict; nothing else runs it.
//
// The callee of every link lives in that Go process (conformance.Serve on
// the end ws.Handler accepted). The scenario body here reaches it only
// through the link and through PeerControl, which asks the host over HTTP
// to kill the callee or to wait for its end: the same process boundary
// the suite keeps for callees in child processes.
//
// The package has no code outside its tests; this file exists so that
// the package is a package on every platform and go vet ./... does not
// trip over a directory whose files all need js/wasm.
package wasmconf
