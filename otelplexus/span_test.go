package otelplexus

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// tracing is an in-memory exporter and the provider that feeds it as
// each span ends.
type tracing struct {
	exp *tracetest.InMemoryExporter
	tp  *sdktrace.TracerProvider
}

func newTracing(t testing.TB) tracing {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing{exp: exp, tp: tp}
}

// span returns the one ended span of this name and kind, waiting for it:
// the serving side's ends after its response.
func (tr tracing) span(t *testing.T, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	ok := waitFor(5*time.Second, time.Millisecond, func() bool {
		found = found[:0]
		for _, s := range tr.exp.GetSpans() {
			if s.Name == name && s.SpanKind == kind {
				found = append(found, s)
			}
		}
		return len(found) > 0
	})
	require.True(t, ok, "no %v span %s among %d", kind, name, len(tr.exp.GetSpans()))
	require.Len(t, found, 1)
	return found[0]
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

// TestSpans: in one process, the calling span is the child of the
// caller's span and the serving span the child of the calling one; the
// trace context travels in the metadata beside the caller's own, which
// is not changed; attributes follow the RPC conventions; a failed call's
// spans have status Error with the status message; a method the caller
// cannot name has a span named after its ID.
func TestSpans(t *testing.T) {
	tr := newTracing(t)
	ic := func() []session.Interceptor { return []session.Interceptor{NewInterceptor(WithTracerProvider(tr.tp))} }
	c := inprocPair(t, ic(), ic())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	root, rootSpan := tr.tp.Tracer("test").Start(ctx, "root")
	mine := plexus.Metadata{"x-user": "ada"}
	var resp plexus.Raw
	require.NoError(t, c.Invoke(plexus.WithMetadata(root, mine), echoID, plexus.Raw("x"), &resp))
	rootSpan.End()
	require.Equal(t, plexus.Metadata{"x-user": "ada"}, mine, "the caller's metadata is not written to")
	got := string(resp)
	require.Contains(t, got, "x-user=ada")
	require.Contains(t, got, "traceparent=00-"+rootSpan.SpanContext().TraceID().String()+"-")

	client := tr.span(t, echoService+".Echo", trace.SpanKindClient)
	server := tr.span(t, echoService+".Echo", trace.SpanKindServer)
	require.Equal(t, rootSpan.SpanContext().SpanID(), client.Parent.SpanID())
	require.Equal(t, client.SpanContext.SpanID(), server.Parent.SpanID())
	require.True(t, server.Parent.IsRemote(), "the server's parent came over the link")
	require.Equal(t, client.SpanContext.TraceID(), server.SpanContext.TraceID())
	require.Contains(t, got, "traceparent=00-"+client.SpanContext.TraceID().String()+"-"+client.SpanContext.SpanID().String()+"-01")
	for _, s := range []tracetest.SpanStub{client, server} {
		require.Equal(t, map[attribute.Key]string{
			keySystem: "plexus", keyService: echoService, keyMethod: "Echo",
			keyMethodID: methodIDString(echoID), keyMethodKind: "unary", keyStatusCode: "OK",
		}, attrs(s.Attributes))
		require.Equal(t, codes.Unset, s.Status.Code)
	}

	err := c.Invoke(ctx, failID, plexus.Raw("x"), nil)
	require.True(t, errors.Is(err, plexus.ErrNotFound), "%v", err)
	for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer} {
		s := tr.span(t, echoService+".Fail", kind)
		require.Equal(t, codes.Error, s.Status.Code)
		require.Equal(t, "no such thing", s.Status.Description)
		require.Equal(t, "NOT_FOUND", attrs(s.Attributes)[keyStatusCode])
		if kind == trace.SpanKindClient {
			require.False(t, s.Parent.IsValid(), "a call from a context without a span starts a trace")
		}
	}

	require.NoError(t, c.Invoke(ctx, hiddenID, plexus.Raw("x"), &resp))
	unnamed := tr.span(t, "plexus.call/"+methodIDString(hiddenID), trace.SpanKindClient)
	a := attrs(unnamed.Attributes)
	require.Equal(t, methodIDString(hiddenID), a[keyMethod], "no name: the ID")
	require.NotContains(t, a, keyService)
	named := tr.span(t, echoService+".Hidden", trace.SpanKindServer)
	require.Equal(t, unnamed.SpanContext.SpanID(), named.Parent.SpanID(), "the serving side knows the name")
}

// TestSpansUntracedCaller: a caller without the interceptor sends no
// trace context; the serving span starts a trace of its own.
func TestSpansUntracedCaller(t *testing.T) {
	tr := newTracing(t)
	c := inprocPair(t, nil, []session.Interceptor{NewInterceptor(WithTracerProvider(tr.tp))})
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), echoID, plexus.Raw("x"), &resp))
	require.NotContains(t, string(resp), "traceparent")
	s := tr.span(t, echoService+".Echo", trace.SpanKindServer)
	require.False(t, s.Parent.IsValid())
	require.True(t, s.SpanContext.IsValid())
}

// TestConcurrentCalls: one interceptor serving both ends of a link, used
// by 8 goroutines at once (50 calls each), counts every call on each side
// and gives each call its own trace of a client and a server span.
func TestConcurrentCalls(t *testing.T) {
	const workers, calls = 8, 50
	tr := newTracing(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ic := []session.Interceptor{NewInterceptor(WithTracerProvider(tr.tp), WithMeterProvider(mp))}
	c := inprocPair(t, ic, ic)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range calls {
				var resp plexus.Raw
				if err := c.Invoke(ctx, echoID, plexus.Raw("x"), &resp); err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(resp), "traceparent=") {
					errs <- errors.New("no traceparent: " + string(resp))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	const n = workers * calls
	var m metrics
	ok := waitFor(5*time.Second, time.Millisecond, func() bool {
		m = collect(t, reader)
		return m.sum(MetricCalls, session.Serving, "Echo", "OK") == n
	})
	require.True(t, ok, "serving calls counted: %d", m.sum(MetricCalls, session.Serving, "Echo", "OK"))
	require.Equal(t, int64(n), m.sum(MetricCalls, session.Calling, "Echo", "OK"))

	spans := tr.exp.GetSpans()
	require.Len(t, spans, 2*n)
	clients := map[trace.SpanID]trace.TraceID{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient {
			clients[s.SpanContext.SpanID()] = s.SpanContext.TraceID()
		}
	}
	require.Len(t, clients, n)
	traces := map[trace.TraceID]bool{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer {
			tid, ok := clients[s.Parent.SpanID()]
			require.True(t, ok, "a server span's parent is a client span")
			require.Equal(t, tid, s.SpanContext.TraceID())
			traces[tid] = true
		}
	}
	require.Len(t, traces, n, "a trace per call")
}

// TestNoSpanNoMetadata: with a tracer that makes no spans (a no-op
// provider) there is no trace context to send, and the call's metadata
// is the caller's alone.
func TestNoSpanNoMetadata(t *testing.T) {
	c := inprocPair(t, []session.Interceptor{NewInterceptor(WithTracerProvider(tracenoop.NewTracerProvider()))}, nil)
	var resp plexus.Raw
	ctx := plexus.WithMetadata(context.Background(), plexus.Metadata{"x-user": "ada"})
	require.NoError(t, c.Invoke(ctx, echoID, plexus.Raw("x"), &resp))
	require.Equal(t, "x-user=ada", string(resp))
}
