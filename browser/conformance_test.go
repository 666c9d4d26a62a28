package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/browser/internal/chrome"
	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// browserExcluded are the conformance scenarios that do not run in the
// browser, each with the reason. Everything else in
// conformance.ScenarioNames runs; TestConformance fails if an entry names
// no scenario, and a scenario added to the suite runs here unless it is
// listed, so that a new one is classified rather than forgotten.
//
// None is excluded: every scenario passes in Chromium in both roles. The
// ones that looked at risk there hold for these reasons:
//
//   - The goroutine-leak check: js/wasm has runtime.NumGoroutine and the
//     pprof goroutine profile. Its one trap is the runtime's goroutine for
//     calls from JavaScript, which appears the first time the program
//     waits; internal/wasmconf lets the program wait once before the
//     suite takes its first baseline.
//   - Killing the peer (PeerDeath): the callee is a session in this
//     process, and Kill closes its transport, as for the in-process envs;
//     the browser learns of it through the WebSocket, as from a crash.
//   - Timing on wasm's single thread (Deadline's 100 ms, Keepalive's
//     50 ms idle and 200 ms timeout, PeerDeath's 2 s): browser timers are
//     precise to a millisecond or so, and each scenario's own wait bounds
//     are seconds.
//   - Size (ConcurrentCalls' 10,000 calls, LongStreams' and
//     BufferedStreams' 100,000-item streams): slow, not wrong; LongStreams
//     takes about 30 s per role, most of the run.
var browserExcluded = map[string]string{}

// The wasm env's name in subtest names, and the paths it uses on the
// host: internal/wasmconf spells them too (a package of test files cannot
// export them).
const (
	envName  = "browser-ws"
	linkPath = "/plexus"
	killPath = "/peer/kill"
	waitPath = "/peer/wait"
)

// Bounds of the browser run. The page's bound leaves room for the test
// binary's own -test.timeout, which panics with every goroutine's stack,
// to fire first and say where a hang was.
const (
	buildTimeout     = 5 * time.Minute
	wasmTestTimeout  = 6 * time.Minute // about 1.5 min on a quiet 2-core machine
	pageTimeout      = 7 * time.Minute
	calleeReadyAfter = 10 * time.Second // a control request for a link not yet served
	maxWait          = time.Minute      // the longest wait a control request may ask for
)

// TestConformance runs the session conformance suite's browser subset in
// headless Chromium: the scenario bodies run in the wasm test binary of
// internal/wasmconf, whose links are WebSockets dialed by transport/ws's
// browser client to this process; the callees run here, on the ends
// ws.Handler accepted. Both roles run, so the browser end is the initiator
// in one and the acceptor (the end the host calls) in the other.
//
// It asserts that the test binary exits 0, that its output reports every
// included scenario as passed in both roles and none as failed, and that
// every one of those subtests had its link served here.
func TestConformance(t *testing.T) {
	included := browserSubset(t)

	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	dir := t.TempDir()
	bin, _, err := chrome.BuildWasmTest(ctx, "./internal/wasmconf", dir, "conf.wasm")
	require.NoError(t, err)
	raw, gz, err := bundleSize(bin)
	require.NoError(t, err)
	t.Logf("conf.wasm (the conformance test binary): %d bytes raw, %d bytes gzipped", raw, gz)

	host := newCalleeHost(t)
	mux := http.NewServeMux()
	mux.Handle(linkPath, host.linkHandler())
	mux.HandleFunc("POST "+killPath, host.serveKill)
	mux.HandleFunc("POST "+waitPath, host.serveWait)
	handleProgram(mux, dir, pageConfig{
		Wasm: "conf.wasm",
		Argv: []string{"conf.wasm", "-test.v", "-test.count=1",
			"-test.timeout=" + wasmTestTimeout.String(),
			"-test.run=" + subsetPattern(included)},
	})
	srv := serveLoopback(t, mux)

	b := launchChromium(t)
	res, err := runProgram(b, srv.URL+"/", pageTimeout)
	require.NoError(t, err)
	require.Empty(t, res.Error, "the page could not run the test binary:\n%s", res.Output)
	require.Equal(t, 0, res.Code, "the conformance test binary failed in the browser:\n%s", res.Output)
	require.NotContains(t, res.Output, "--- FAIL", "%s", res.Output)
	for _, sc := range included {
		for _, r := range conformance.Roles {
			name := fmt.Sprintf("TestConformance/%s/%s/%s", sc, envName, r.Name)
			require.Contains(t, res.Output, "--- PASS: "+name+" (", "%s did not pass:\n%s", name, res.Output)
		}
	}
	require.Equal(t, len(conformance.Roles)*len(included), host.served(), "links the host served, one per subtest:\n%s", res.Output)
	require.Empty(t, host.refusals(), "upgrades the host refused")
	t.Logf("passed in Chromium, both roles:\n%s", scenarioLines(res.Output))
}

// scenarioLines picks the wasm test's verdict on each scenario (both roles
// together), with its time, out of its -test.v output.
func scenarioLines(output string) string {
	var lines []string
	for line := range strings.SplitSeq(output, "\n") {
		if rest, ok := strings.CutPrefix(line, "    --- "); ok && strings.Count(rest, "/") == 1 {
			lines = append(lines, rest)
		}
	}
	return strings.Join(lines, "\n")
}

// browserSubset is conformance.ScenarioNames without browserExcluded, in
// the suite's order; it fails the test if an exclusion names no scenario.
func browserSubset(t *testing.T) []string {
	t.Helper()
	all := conformance.ScenarioNames()
	var included []string
	for _, sc := range all {
		if _, out := browserExcluded[sc]; !out {
			included = append(included, sc)
		}
	}
	for sc := range browserExcluded {
		require.Contains(t, all, sc, "browserExcluded names a scenario the suite does not have")
	}
	require.NotEmpty(t, included)
	return included
}

// subsetPattern is the -test.run pattern that selects exactly the named
// scenarios of the wasm TestConformance.
func subsetPattern(scenarios []string) string {
	quoted := make([]string, len(scenarios))
	for i, sc := range scenarios {
		quoted[i] = regexp.QuoteMeta(sc)
	}
	return "^TestConformance$/^(" + strings.Join(quoted, "|") + ")$"
}

// calleeHost runs the callee end of every link the browser dials, and
// finds it again by link ID when the browser's PeerControl asks to kill
// it or to wait for its end.
type calleeHost struct {
	t   *testing.T
	log hclog.Logger

	mu      sync.Mutex
	links   map[string]*hostedLink
	count   int
	refused []string
}

// hostedLink is one link's callee. Its entry is made when the upgrade
// request arrives, and ready is closed once the callee runs (callee) or
// failed to start (err). The browser may ask for the callee in between:
// its Dial returns once the upgrade's answer has arrived, which can be
// before the handler has started the callee.
type hostedLink struct {
	ready  chan struct{}
	callee *conformance.Callee
	err    error
}

// linkParams are a link's ID and options, from its upgrade URL.
type linkParams struct {
	id   string
	opts conformance.LinkOptions
}

type linkParamsKey struct{}

func newCalleeHost(t *testing.T) *calleeHost {
	h := &calleeHost{
		t:     t,
		log:   hclog.New(&hclog.LoggerOptions{Name: "callee", Level: hclog.Warn, Output: newLogWriter(t)}),
		links: map[string]*hostedLink{},
	}
	t.Cleanup(h.killAll)
	return h
}

// linkHandler upgrades the browser's links. The ID and the options come
// in the URL; they are checked, and refused with 400, before the upgrade,
// then handed to Serve through the request's context, which ws.Handler
// passes on.
func (h *calleeHost) linkHandler() http.Handler {
	up := ws.Handler(ws.HandlerConfig{
		Config: ws.Config{MaxPayload: conformance.MaxPayload},
		Serve: func(ctx context.Context, tr *ws.Transport) {
			p := ctx.Value(linkParamsKey{}).(linkParams)
			c, err := conformance.Serve(tr, p.opts, h.log.Named(p.id))
			h.mu.Lock()
			l := h.links[p.id] // made by the handler below, before the upgrade
			h.count++
			h.mu.Unlock()
			l.callee, l.err = c, err
			close(l.ready)
		},
		OnRefused: func(r *http.Request, err error) {
			h.mu.Lock()
			h.refused = append(h.refused, fmt.Sprintf("link %q: %v", r.URL.Query().Get("id"), err))
			h.mu.Unlock()
		},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := linkParams{id: q.Get("id")}
		if p.id == "" {
			http.Error(w, "no link id", http.StatusBadRequest)
			return
		}
		if err := json.Unmarshal([]byte(q.Get("opts")), &p.opts); err != nil {
			http.Error(w, "link options: "+err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		_, dup := h.links[p.id]
		if !dup {
			h.links[p.id] = &hostedLink{ready: make(chan struct{})}
		}
		h.mu.Unlock()
		if dup {
			http.Error(w, "link id "+p.id+" is taken", http.StatusConflict)
			return
		}
		up.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), linkParamsKey{}, p)))
	})
}

// callee waits (boundedly) for the callee of the request's link to start
// and returns it, or writes the HTTP error that says why not.
func (h *calleeHost) callee(w http.ResponseWriter, r *http.Request) *conformance.Callee {
	id := r.URL.Query().Get("id")
	h.mu.Lock()
	l := h.links[id]
	h.mu.Unlock()
	if l == nil {
		http.Error(w, fmt.Sprintf("no link %q", id), http.StatusNotFound)
		return nil
	}
	timer := time.NewTimer(calleeReadyAfter)
	defer timer.Stop()
	select {
	case <-l.ready:
	case <-timer.C:
		http.Error(w, fmt.Sprintf("link %q has no callee after %v", id, calleeReadyAfter), http.StatusNotFound)
		return nil
	case <-r.Context().Done():
		return nil
	}
	if l.err != nil {
		http.Error(w, fmt.Sprintf("link %q: starting the callee: %v", id, l.err), http.StatusInternalServerError)
		return nil
	}
	return l.callee
}

func (h *calleeHost) serveKill(w http.ResponseWriter, r *http.Request) {
	if c := h.callee(w, r); c != nil {
		c.Kill()
		_, _ = fmt.Fprintln(w, "killed")
	}
}

func (h *calleeHost) serveWait(w http.ResponseWriter, r *http.Request) {
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || timeout < 0 || timeout > maxWait {
		http.Error(w, fmt.Sprintf("timeout %q: want a duration up to %v", r.URL.Query().Get("timeout"), maxWait), http.StatusBadRequest)
		return
	}
	c := h.callee(w, r)
	if c == nil {
		return
	}
	if err := c.Wait(timeout); err != nil {
		http.Error(w, err.Error(), http.StatusGatewayTimeout)
		return
	}
	_, _ = fmt.Fprintln(w, "ended")
}

// served is how many links the host has upgraded and served.
func (h *calleeHost) served() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// refusals are the upgrades ws.Handler refused, and why.
func (h *calleeHost) refusals() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.refused...)
}

// killAll ends every callee still running when the test ends (a browser
// that died mid-scenario leaves them waiting for a link nobody closes),
// and waits for them all, within one bound.
func (h *calleeHost) killAll() {
	h.mu.Lock()
	running := map[string]*conformance.Callee{}
	for id, l := range h.links {
		select {
		case <-l.ready:
			if l.callee != nil {
				running[id] = l.callee
			}
		default: // never started
		}
	}
	h.mu.Unlock()
	for _, c := range running {
		c.Kill()
	}
	deadline := time.Now().Add(calleeReadyAfter)
	for id, c := range running {
		// Not zero: with an expired timer, Wait's select would pick at
		// random between it and a callee that has ended.
		if err := c.Wait(max(time.Until(deadline), 10*time.Millisecond)); err != nil {
			h.t.Errorf("link %s: %v", id, err)
		}
	}
}
