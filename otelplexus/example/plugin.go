package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/otelplexus"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// hostConn is the plugin's link to its host, for the Title callback; set
// by OnLink before any call is served.
var hostConn atomic.Pointer[session.Conn]

// greet is example.Greeter.Greet: it asks the host for the name's title.
// The context is the call's, so the callback's span is a child of this
// call's.
func greet(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	name := string(req)
	var title plexus.Raw
	if err := (*hostConn.Load()).Invoke(ctx, titleID, plexus.Raw(name), &title); err != nil {
		return nil, err // the host's NOT_FOUND, as it came
	}
	return plexus.Raw(fmt.Sprintf("Hello, %s %s!", title, name)), nil
}

// servePlugin is the plugin side; it does not return.
func servePlugin() {
	// Spans to the plugin's stdout, which the host copies to its own.
	tp, err := newTracerProvider(os.Stdout, "otelplexus-example-plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
	otel.SetTracerProvider(tp)
	plugin.Serve(plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{1: {{Name: greeter, Methods: []plugin.Method{
			{Name: "Greet", Signature: exampSig, Unary: greet},
		}}}},
		HostServices: map[uint32][]plugin.ServiceDesc{1: {titlesDesc}},
		// The global tracer provider set above; no meter provider is
		// set, so the plugin's metrics go nowhere (see doc.go).
		Interceptors: []session.Interceptor{otelplexus.NewInterceptor()},
		OnLink:       func(h session.Conn, _ uint32) { hostConn.Store(&h) },
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "plugin", JSONFormat: true, Level: hclog.Warn}),
	})
}
