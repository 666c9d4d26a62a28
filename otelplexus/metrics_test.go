package otelplexus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// metrics is what a ManualReader collected.
type metrics struct{ rm metricdata.ResourceMetrics }

func collect(t testing.TB, r *sdkmetric.ManualReader) metrics {
	t.Helper()
	var m metrics
	require.NoError(t, r.Collect(context.Background(), &m.rm))
	return m
}

// collectServed collects once the serving side has counted a call of
// method with code: a chain's Ends run innermost first, so the recorder
// behind the meter sees the serving side's end before the meter has
// counted it (the handler's goroutine is still in the chain).
func collectServed(t testing.TB, r *sdkmetric.ManualReader, method, code string) metrics {
	t.Helper()
	var m metrics
	require.True(t, waitFor(5*time.Second, time.Millisecond, func() bool {
		m = collect(t, r)
		// The interceptor's End records the call, its duration, then the
		// request's and the response's sizes, and a collect reads the
		// instruments one after another while End may be between them:
		// one collect can find the response's size and not the call
		// (seen in CI). Wait for a collect that holds all four.
		_, timed := m.duration(session.Serving, method, code)
		return timed &&
			m.sum(MetricCalls, session.Serving, method, code) >= 0 &&
			m.sum(MetricRequestSize, session.Serving, method, code) >= 0 &&
			m.sum(MetricResponseSize, session.Serving, method, code) >= 0
	}), "the serving side's %s %s counted", method, code)
	return m
}

// data returns the data of the metric called name.
func (m metrics) data(name string) metricdata.Aggregation {
	for _, sm := range m.rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name == name {
				return mt.Data
			}
		}
	}
	return nil
}

// matches reports whether a data point's attributes are those of a call
// of otest.Echo's method on side ending with code.
func matches(set attribute.Set, side session.Side, method, code string) bool {
	want := map[attribute.Key]string{
		keySystem: "plexus", keyService: echoService, keyMethod: method,
		keySide: side.String(), keyStatusCode: code,
	}
	if set.Len() != len(want) {
		return false
	}
	for k, v := range want {
		if got, ok := set.Value(k); !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

// sum is the value of the counter called name for one method, side and
// code; -1 when there is no such data point.
func (m metrics) sum(name string, side session.Side, method, code string) int64 {
	s, ok := m.data(name).(metricdata.Sum[int64])
	if !ok {
		return -1
	}
	for _, dp := range s.DataPoints {
		if matches(dp.Attributes, side, method, code) {
			return dp.Value
		}
	}
	return -1
}

// duration is the duration histogram's data point for one method, side
// and code.
func (m metrics) duration(side session.Side, method, code string) (metricdata.HistogramDataPoint[float64], bool) {
	h, ok := m.data(MetricDuration).(metricdata.Histogram[float64])
	if !ok {
		return metricdata.HistogramDataPoint[float64]{}, false
	}
	for _, dp := range h.DataPoints {
		if matches(dp.Attributes, side, method, code) {
			return dp, true
		}
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

// TestMetrics: after one unary call each side has counted one call with
// status OK, one duration, and the request and response bytes its End was
// given; after a failing call the status attribute is the code's name.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	rec := newEnds()
	chain := func() []session.Interceptor {
		return []session.Interceptor{NewInterceptor(WithMeterProvider(mp)), rec}
	}
	c := inprocPair(t, chain(), chain())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var resp plexus.Raw
	require.NoError(t, c.Invoke(ctx, echoID, plexus.Raw("hello"), &resp))
	require.True(t, waitFor(5*time.Second, time.Millisecond, func() bool { return len(rec.side(session.Serving)) == 1 }))
	require.Len(t, rec.side(session.Calling), 1)
	m := collectServed(t, reader, "Echo", "OK")
	for _, side := range []session.Side{session.Calling, session.Serving} {
		end := rec.side(side)[0]
		require.Nil(t, end.Status)
		require.Equal(t, int64(1), m.sum(MetricCalls, side, "Echo", "OK"), side)
		dp, ok := m.duration(side, "Echo", "OK")
		require.True(t, ok, side)
		require.Equal(t, uint64(1), dp.Count, side)
		require.Positive(t, dp.Sum, side)
		require.Equal(t, durationBuckets, dp.Bounds, "microsecond buckets")
		req, res := end.Sent, end.Received
		if side == session.Serving {
			req, res = end.Received, end.Sent
		}
		require.Positive(t, req)
		require.Equal(t, req, m.sum(MetricRequestSize, side, "Echo", "OK"), side)
		require.Equal(t, res, m.sum(MetricResponseSize, side, "Echo", "OK"), side)
	}
	require.Equal(t, rec.side(session.Calling)[0].Sent, rec.side(session.Serving)[0].Received,
		"both sides count the same request")

	err := c.Invoke(ctx, failID, plexus.Raw("x"), nil)
	require.True(t, errors.Is(err, plexus.ErrNotFound), "%v", err)
	require.True(t, waitFor(5*time.Second, time.Millisecond, func() bool { return len(rec.side(session.Serving)) == 2 }))
	m = collectServed(t, reader, "Fail", "NOT_FOUND")
	for _, side := range []session.Side{session.Calling, session.Serving} {
		require.Equal(t, int64(1), m.sum(MetricCalls, side, "Fail", "NOT_FOUND"), side)
		require.Equal(t, int64(-1), m.sum(MetricCalls, side, "Fail", "OK"), side)
		dp, ok := m.duration(side, "Fail", "NOT_FOUND")
		require.True(t, ok, side)
		require.Equal(t, uint64(1), dp.Count, side)
		require.Equal(t, int64(1), m.sum(MetricCalls, side, "Echo", "OK"), "the first call's count stays")
	}
}
