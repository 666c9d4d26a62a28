package otelplexus

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// syncBuffer collects the host's log, written by the plugin's forwarders
// and the client at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPlugin starts this test binary as the otest plugin, with the host's
// side traced into exp, and closes it when the test ends.
func startPlugin(t *testing.T, exp *tracetest.InMemoryExporter) *host.Client {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	mux := session.NewMux()
	_, err = mux.HandleUnary(hostService, "Inner", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw("inner(" + string(req) + ")"), nil
	})
	require.NoError(t, err)
	var log syncBuffer
	t.Cleanup(func() { // runs last: after the plugin is closed
		if t.Failed() {
			t.Logf("host log:\n%s", log.String())
		}
	})
	c, err := host.New(host.Config{
		Path: exe, Name: "otest", Cookie: testCookie,
		// A race-enabled plugin sleeps 1 s at exit unless told not to.
		Env:          []string{modeEnv + "=plugin", "GORACE=atexit_sleep_ms=0"},
		Versions:     map[uint32][]host.ServiceDesc{1: {pluginDesc()}},
		HostServices: mux,
		Interceptors: []session.Interceptor{NewInterceptor(WithTracerProvider(tp))},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: &log, JSONFormat: true,
			Level: hclog.Debug, Mutex: &sync.Mutex{}}),
		StartTimeout: 20 * time.Second,
		GracePeriod:  2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Start(context.Background()))
	return c
}

// find returns the span of spans with this name and kind.
func find(t *testing.T, spans []spanRecord, name, kind string) spanRecord {
	t.Helper()
	var found []spanRecord
	for _, s := range spans {
		if s.Name == name && s.Kind == kind {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "one %s span %s among %+v", kind, name, spans)
	return found[0]
}

// has reports whether spans holds a span of this name and kind.
func has(spans []spanRecord, name, kind string) bool {
	for _, s := range spans {
		if s.Name == name && s.Kind == kind {
			return true
		}
	}
	return false
}

// TestTraceAcrossProcesses: the host calls the plugin's Outer, which calls
// back the host's Inner; the four spans (host client Outer, plugin server
// Outer, plugin client Inner, host server Inner) are one trace, each the
// child of the one before, with the kinds of their sides, although two
// processes with their own tracer providers made them.
func TestTraceAcrossProcesses(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	c := startPlugin(t, exp)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(ctx, outerID, plexus.Raw("x"), &resp))
	require.Equal(t, "outer(inner(x))", string(resp))

	// A serving side's span ends after it has sent its response, so
	// each process's spans are waited for, within a bound.
	var remote []spanRecord
	var spansErr error
	ok := waitFor(10*time.Second, 10*time.Millisecond, func() bool {
		var b plexus.Raw
		if spansErr = c.Invoke(ctx, spansID, plexus.Raw{}, &b); spansErr != nil {
			return false
		}
		remote = nil
		spansErr = json.Unmarshal(b, &remote)
		return has(remote, pluginService+".Outer", "server") && has(remote, hostService+".Inner", "client")
	})
	require.True(t, ok, "the plugin's spans: %+v (%v)", remote, spansErr)
	var local []spanRecord
	ok = waitFor(10*time.Second, time.Millisecond, func() bool {
		local = records(exp.GetSpans())
		return has(local, pluginService+".Outer", "client") && has(local, hostService+".Inner", "server")
	})
	require.True(t, ok, "the host's spans: %+v", local)

	chain := []spanRecord{
		find(t, local, pluginService+".Outer", "client"),
		find(t, remote, pluginService+".Outer", "server"),
		find(t, remote, hostService+".Inner", "client"),
		find(t, local, hostService+".Inner", "server"),
	}
	require.Empty(t, chain[0].ParentSpanID, "the host's call starts the trace")
	for i, s := range chain {
		require.Equal(t, chain[0].TraceID, s.TraceID, "span %d (%s %s) is in the trace", i, s.Kind, s.Name)
		require.Equal(t, "OK", s.Code)
		require.Equal(t, "Unset", s.Status)
		if i > 0 {
			require.Equal(t, chain[i-1].SpanID, s.ParentSpanID, "span %d (%s %s) is the child of span %d", i, s.Kind, s.Name, i-1)
		}
	}
	seen := map[string]bool{}
	for _, s := range chain {
		require.False(t, seen[s.SpanID], "span IDs differ")
		seen[s.SpanID] = true
	}
}
