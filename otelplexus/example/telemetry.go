package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newTracerProvider writes every span to w as one JSON line, as it ends,
// under the resource service.name = service. A syncer rather than the
// batcher a service would use: the output comes in the order the calls
// end, and nothing waits in a buffer when the plugin's process exits
// (plugin.Serve exits without returning).
func newTracerProvider(w io.Writer, service string) (*sdktrace.TracerProvider, error) {
	exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", service))
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res)), nil
}

// metricsServer is a meter provider whose metrics a Prometheus endpoint
// serves.
type metricsServer struct {
	mp   *sdkmetric.MeterProvider
	srv  *http.Server
	addr string
}

// serveMetrics serves a meter provider's metrics at http://addr/metrics.
// A registry of its own rather than Prometheus's default: the endpoint
// shows this program's plexus metrics, not the Go runtime's too; and
// without the instrumentation scope's labels on every line, which here
// would all say otelplexus.
func serveMetrics(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		mp:   sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		addr: ln.Addr().String(),
	}
	go func() { _ = m.srv.Serve(ln) }() // ends with close
	return m, nil
}

// url is the endpoint's address.
func (m *metricsServer) url() string { return "http://" + m.addr + "/metrics" }

// scrape fetches the endpoint once, as Prometheus would, and returns its
// samples whose names start with prefix, histogram buckets left out (23
// lines per series; their _count and _sum stay).
func (m *metricsServer) scrape(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", m.url(), resp.Status)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, prefix) && !strings.Contains(l, "_bucket{") {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

// close stops the endpoint and the meter provider.
func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	_ = m.mp.Shutdown(ctx)
}
