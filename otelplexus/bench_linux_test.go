//go:build linux

package otelplexus

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// BenchmarkUnary is the cost of the interceptors per unary call: the same
// call over a shared-memory pair in one process, without interceptors
// (none) and with this package's on both ends (otel), recording into a
// real SDK: every span sampled and handed to a batch processor (whose
// exporter discards them), every metric aggregated for a reader.
//
// traces and metrics are each half alone (the other a no-op provider), and
// noop the interceptor with no-op providers on both (the session's
// interceptor bookkeeping and this package's own work), to tell the costs
// apart.
func BenchmarkUnary(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchUnary(b, [2][]session.Interceptor{}) })
	b.Run("otel", func(b *testing.B) { benchUnary(b, benchInterceptors(b, true, true)) })
	b.Run("traces", func(b *testing.B) { benchUnary(b, benchInterceptors(b, true, false)) })
	b.Run("metrics", func(b *testing.B) { benchUnary(b, benchInterceptors(b, false, true)) })
	b.Run("noop", func(b *testing.B) { benchUnary(b, benchInterceptors(b, false, false)) })
}

// benchInterceptors returns one interceptor per end, as a host and its
// plugin each have, on SDK providers (or no-op ones where not asked for).
func benchInterceptors(b *testing.B, traces, metrics bool) [2][]session.Interceptor {
	var opts []Option
	if traces {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts = append(opts, WithTracerProvider(tp))
	} else {
		opts = append(opts, WithTracerProvider(tracenoop.NewTracerProvider()))
	}
	if metrics {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		opts = append(opts, WithMeterProvider(mp))
	} else {
		opts = append(opts, WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	return [2][]session.Interceptor{{NewInterceptor(opts...)}, {NewInterceptor(opts...)}}
}

// benchUnary measures Ping over a shared-memory pair whose ends have
// ics[0] (calling) and ics[1] (serving).
func benchUnary(b *testing.B, ics [2][]session.Interceptor) {
	a, s, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(b, err)
	c := pair(b, a, s, ics[0], ics[1])
	ctx := context.Background()
	req := plexus.Raw("ping")
	var resp plexus.Raw
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Invoke(ctx, pingID, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}
