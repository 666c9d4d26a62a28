package otelplexus

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names. One set for both sides of a call, told apart by the
// plexus.side attribute, so that a process's calls and the calls it serves
// read alike on one dashboard.
const (
	MetricCalls        = "plexus.rpc.calls"
	MetricDuration     = "plexus.rpc.duration"
	MetricRequestSize  = "plexus.rpc.request.size"
	MetricResponseSize = "plexus.rpc.response.size"
)

// durationBuckets are the duration histogram's bucket bounds, in seconds.
// The SDK's default bounds (0, 5, 10, 25 ... 10000) are made for
// milliseconds and would put every plexus call, which takes microseconds
// over shared memory, into the first bucket; these run from a microsecond
// to ten seconds.
var durationBuckets = []float64{
	1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// instruments are an interceptor's metrics.
type instruments struct {
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	request  metric.Int64Counter
	response metric.Int64Counter
}

// newInstruments makes the instruments on m. An instrument the provider
// refuses (it reports why through otel.Handle) is replaced by a no-op one:
// calls must not fail, nor the interceptor be unusable, because a metric
// could not be made.
func newInstruments(m metric.Meter) instruments {
	nm := noop.Meter{}
	var in instruments
	var err error
	if in.calls, err = m.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Calls ended, by method, side and status code.")); err != nil {
		otel.Handle(err)
		in.calls, _ = nm.Int64Counter(MetricCalls)
	}
	if in.duration, err = m.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of calls, from the interceptor's Start to its End."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		otel.Handle(err)
		in.duration, _ = nm.Float64Histogram(MetricDuration)
	}
	if in.request, err = m.Int64Counter(MetricRequestSize, metric.WithUnit("By"),
		metric.WithDescription("Payload bytes the caller sent (messages, metadata, status bodies).")); err != nil {
		otel.Handle(err)
		in.request, _ = nm.Int64Counter(MetricRequestSize)
	}
	if in.response, err = m.Int64Counter(MetricResponseSize, metric.WithUnit("By"),
		metric.WithDescription("Payload bytes the serving side sent (messages, metadata, status bodies).")); err != nil {
		otel.Handle(err)
		in.response, _ = nm.Int64Counter(MetricResponseSize)
	}
	return in
}
