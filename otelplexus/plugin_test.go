package otelplexus

import (
	"context"
	"encoding/json"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The cross-process test's services: the plugin serves otest.Plugin, the
// host otest.Host, which the plugin's Outer calls back.
const (
	testCookie    = "otelplexus-test"
	pluginService = "otest.Plugin"
	hostService   = "otest.Host"
	testSig       = 0x07e5 // every method's signature hash, on both sides
)

var (
	outerID = plexus.MethodID(pluginService, "Outer")
	spansID = plexus.MethodID(pluginService, "Spans")
	innerID = plexus.MethodID(hostService, "Inner")
)

// pluginDesc is otest.Plugin as the host expects it; its method names are
// what name the host's spans.
func pluginDesc() host.ServiceDesc {
	return host.ServiceDesc{Name: pluginService, Methods: []host.MethodDesc{
		{Name: "Outer", Kind: plexus.Unary, Signature: testSig},
		{Name: "Spans", Kind: plexus.Unary, Signature: testSig},
	}}
}

// hostDesc is otest.Host as the plugin declares it: the host checks it at
// link time, and the plugin's session names its calls after it.
func hostDesc() plugin.ServiceDesc {
	return plugin.ServiceDesc{Name: hostService, Methods: []plugin.MethodDesc{
		{Name: "Inner", Kind: plexus.Unary, Signature: testSig},
	}}
}

// spanRecord is a finished span as the tests compare them across
// processes.
type spanRecord struct {
	Name, Kind                      string
	TraceID, SpanID, ParentSpanID   string
	Status, StatusDescription, Code string
}

func records(stubs tracetest.SpanStubs) []spanRecord {
	out := make([]spanRecord, 0, len(stubs))
	for _, s := range stubs {
		r := spanRecord{Name: s.Name, Kind: s.SpanKind.String(),
			TraceID: s.SpanContext.TraceID().String(), SpanID: s.SpanContext.SpanID().String(),
			Status: s.Status.Code.String(), StatusDescription: s.Status.Description}
		if s.Parent.IsValid() {
			r.ParentSpanID = s.Parent.SpanID().String()
		}
		for _, kv := range s.Attributes {
			if kv.Key == keyStatusCode {
				r.Code = kv.Value.AsString()
			}
		}
		out = append(out, r)
	}
	return out
}

// hostConn is the plugin's session, for its calls to the host; OnLink
// sets it before any handler runs.
var hostConn atomic.Pointer[session.Conn]

// servePlugin is the plugin process: otest.Plugin, traced into an
// in-memory exporter that Spans reports. It does not return.
func servePlugin() {
	exp := tracetest.NewInMemoryExporter()
	// A syncer: a span is in the exporter as soon as it ends, so that
	// Spans can report it without a flush.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	unary := func(name string, h session.UnaryHandler) plugin.Method {
		return plugin.Method{Name: name, Signature: testSig, Unary: h}
	}
	svc := plugin.Service{Name: pluginService, Methods: []plugin.Method{
		unary("Outer", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			var resp plexus.Raw
			if err := (*hostConn.Load()).Invoke(ctx, innerID, plexus.Raw(req), &resp); err != nil {
				return nil, err
			}
			return plexus.Raw("outer(" + string(resp) + ")"), nil
		}),
		unary("Spans", func(context.Context, []byte) (plexus.Marshaler, error) {
			b, err := json.Marshal(records(exp.GetSpans()))
			return plexus.Raw(b), err
		}),
	}}
	plugin.Serve(plugin.ServeConfig{
		Cookie:       testCookie,
		Versions:     map[uint32][]plugin.Service{1: {svc}},
		HostServices: map[uint32][]plugin.ServiceDesc{1: {hostDesc()}},
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "plugin", JSONFormat: true, Level: hclog.Warn}),
		Interceptors: []session.Interceptor{NewInterceptor(WithTracerProvider(tp))},
		OnLink:       func(h session.Conn, _ uint32) { hostConn.Store(&h) },
	})
}
