//go:build js && wasm

package wasmconf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// originEnv names the variable through which the page hands this binary
// its own origin (http://127.0.0.1:port): the Go test server that serves
// the page also accepts the links and controls their callees.
const originEnv = "PLEXUS_PAGE_ORIGIN"

// The env's name in subtest names and the paths on the host: the browser
// package's host side spells them again (a package of test files cannot
// export them).
const (
	envName  = "browser-ws"
	linkPath = "/plexus"
	killPath = "/peer/kill"
	waitPath = "/peer/wait"
)

// dialTimeout bounds one link's upgrade; controlSlack is what an HTTP
// control request may take beyond the wait it asks for (the host gives a
// callee that has not started yet 10 s).
const (
	dialTimeout  = 20 * time.Second
	controlSlack = 15 * time.Second
)

// TestConformance runs the session conformance suite from the browser:
// the browser TestConformance picks the subset with -test.run.
func TestConformance(t *testing.T) {
	origin := os.Getenv(originEnv)
	if origin == "" {
		// Not a skip: a skipped run would look like a pass to anyone who
		// does not read the output.
		t.Fatalf("%s is not set: the browser package's TestConformance runs this test in a page that sets it", originEnv)
	}
	settleEventGoroutine(t)
	conformance.Run(t, hostEnv(origin))
}

// settleEventGoroutine lets the program go idle once, so that the js/wasm
// runtime's goroutine for calls from JavaScript exists before the suite
// takes its first goroutine baseline. The runtime starts that goroutine
// (runtime.handleAsyncEvent) the first time every goroutine is blocked and
// keeps one from then on; a program that has never waited has none. The
// first scenario would otherwise count it as a leak of its own. A sleep is
// such a wait: the timer's expiry comes back as a JavaScript event.
func settleEventGoroutine(t *testing.T) {
	time.Sleep(time.Millisecond)
	before := runtime.NumGoroutine()
	time.Sleep(time.Millisecond)
	if after := runtime.NumGoroutine(); after != before {
		t.Fatalf("goroutines after going idle: %d, then %d: the suite's leak check would not hold here", before, after)
	}
}

// hostEnv is the env whose links go from this page to the Go host. Each
// link has an ID, in the upgrade URL and in every control request, so that
// the host can tell the callees apart.
func hostEnv(origin string) conformance.Env {
	wsBase := "ws" + strings.TrimPrefix(origin, "http") + linkPath
	var next atomic.Int64
	return conformance.Env{
		Name:       envName,
		MaxPayload: conformance.MaxPayload,
		Link: func(t *testing.T, o conformance.LinkOptions) (transport.Transport, conformance.PeerControl) {
			opts, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("encoding the link options: %v", err)
			}
			id := strconv.FormatInt(next.Add(1), 10)
			u := wsBase + "?" + url.Values{"id": {id}, "opts": {string(opts)}}.Encode()
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			defer cancel()
			tr, err := ws.Dial(ctx, u, ws.DialConfig{Config: ws.Config{MaxPayload: conformance.MaxPayload}})
			if err != nil {
				t.Fatalf("dialing the host: %v", err)
			}
			p := &hostPeer{origin: origin, id: id}
			t.Cleanup(func() { _ = tr.Close() })
			t.Cleanup(p.Kill)
			return tr, p
		},
	}
}

// hostPeer is PeerControl over HTTP: the callee runs in the Go process
// that serves the page, which kills it or waits for it on request.
type hostPeer struct {
	origin, id string
}

// Kill asks the host to close the callee's end of the link. The
// interface has no way to report a failure; a kill that did not happen
// shows up as the scenario's own failure (calls that do not fail), and in
// the browser's console.
func (p *hostPeer) Kill() {
	if err := p.control(killPath, 0); err != nil {
		fmt.Fprintf(os.Stderr, "wasmconf: kill link %s: %v\n", p.id, err)
	}
}

// Wait asks the host to wait up to timeout for the callee to end; the
// host answers 200 once it has, or an error that says what it saw.
func (p *hostPeer) Wait(timeout time.Duration) error {
	return p.control(waitPath, timeout)
}

func (p *hostPeer) control(path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+controlSlack)
	defer cancel()
	q := url.Values{"id": {p.id}, "timeout": {timeout.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.origin+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s link %s: %s: %s", path, p.id, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
