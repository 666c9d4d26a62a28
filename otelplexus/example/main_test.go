package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	hostName   = "otelplexus-example-host"
	pluginName = "otelplexus-example-plugin"
)

// TestExample builds the example and runs it as a user does: each Greet is
// one trace of four spans across the host and the plugin, each the child
// of the one before (the failed one with Error on all four), and the
// scraped metrics count the host's calls and the callbacks it served.
func TestExample(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "example")
	bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer bcancel()
	msg, err := exec.CommandContext(bctx, "go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, string(msg))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe) // default -metrics-addr: loopback, a free port
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	out := stdout.String()
	require.Contains(t, out, `Greet("Ada") = "Hello, Countess Ada!"`)
	starts, ok := sample(out, "plexus_plugin_starts_total", map[string]string{"plexus_plugin": "example-plugin", "plexus_link": "shared memory"})
	require.True(t, ok, "ObserveHost's figures while the plugin runs, in:\n%s", out)
	require.Equal(t, "1", starts)
	require.Contains(t, out, `Greet("Nobody") failed, as it should: plexus: NOT_FOUND: no title for "Nobody"`)

	all, err := spans(out)
	require.NoError(t, err)
	byTrace := map[string][]span{}
	var roots []span
	for _, s := range all {
		byTrace[s.SpanContext.TraceID] = append(byTrace[s.SpanContext.TraceID], s)
		if s.Name == "example.Greeter.Greet" && s.SpanKind == kindClient {
			roots = append(roots, s)
		}
	}
	require.Len(t, roots, 3, "a trace per Greet")
	failed := 0
	for _, root := range roots {
		trace := byTrace[root.SpanContext.TraceID]
		require.Len(t, trace, 4, "%+v", trace)
		// The chain, in order, as (name, kind, process).
		want := []struct {
			name    string
			kind    int
			process string
		}{
			{"example.Greeter.Greet", kindClient, hostName},
			{"example.Greeter.Greet", kindServer, pluginName},
			{"example.Titles.Title", kindClient, pluginName},
			{"example.Titles.Title", kindServer, hostName},
		}
		parent := "0000000000000000" // none: the host's call starts the trace
		errs := 0
		for i, w := range want {
			var found *span
			for j := range trace {
				if s := trace[j]; s.Name == w.name && s.SpanKind == w.kind {
					found = &trace[j]
				}
			}
			require.NotNil(t, found, "span %d (%s) of the trace", i, w.name)
			require.Equal(t, w.process, found.service(), "span %d (%s) made by the %s", i, w.name, w.process)
			require.Equal(t, parent, found.Parent.SpanID, "span %d (%s) is the child of span %d", i, w.name, i-1)
			if found.Status.Code == "Error" {
				errs++
				require.Equal(t, `no title for "Nobody"`, found.Status.Description)
			}
			parent = found.SpanContext.SpanID
		}
		require.Contains(t, []int{0, 4}, errs, "a failed call fails on every span of its trace")
		if errs == 4 {
			failed++
		}
	}
	require.Equal(t, 1, failed, "one Greet failed")

	for _, c := range []struct {
		name, side, service, method, code, value string
	}{
		{"plexus_rpc_calls_total", "calling", "example.Greeter", "Greet", "OK", "2"},
		{"plexus_rpc_calls_total", "calling", "example.Greeter", "Greet", "NOT_FOUND", "1"},
		{"plexus_rpc_calls_total", "serving", "example.Titles", "Title", "OK", "2"},
		{"plexus_rpc_calls_total", "serving", "example.Titles", "Title", "NOT_FOUND", "1"},
		{"plexus_rpc_calls_total", "calling", "plexus.Link", "Shutdown", "OK", "1"},
		{"plexus_rpc_duration_seconds_count", "calling", "example.Greeter", "Greet", "OK", "2"},
		{"plexus_rpc_duration_seconds_count", "serving", "example.Titles", "Title", "NOT_FOUND", "1"},
	} {
		got, ok := sample(out, c.name, map[string]string{"plexus_side": c.side, "rpc_system": "plexus",
			"rpc_service": c.service, "rpc_method": c.method, "rpc_response_status_code": c.code})
		require.True(t, ok, "%+v in:\n%s", c, out)
		require.Equal(t, c.value, got, "%+v", c)
	}
	for _, name := range []string{"plexus_rpc_request_size_bytes_total", "plexus_rpc_response_size_bytes_total"} {
		got, ok := sample(out, name, map[string]string{"plexus_side": "serving", "rpc_method": "Title", "rpc_response_status_code": "OK"})
		require.True(t, ok, name)
		require.NotEqual(t, "0", got, name)
	}
}
