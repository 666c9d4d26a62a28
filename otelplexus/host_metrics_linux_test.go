package otelplexus

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// gauge returns the value of the point of an int64 gauge or sum whose
// attributes include every one of want; false if there is none.
func (m metrics) point(name string, want ...attribute.KeyValue) (int64, bool) {
	var pts []metricdata.DataPoint[int64]
	switch d := m.data(name).(type) {
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	case metricdata.Sum[int64]:
		pts = d.DataPoints
	case nil:
		return 0, false
	}
	for _, p := range pts {
		ok := true
		for _, kv := range want {
			if v, has := p.Attributes.Value(kv.Key); !has || v != kv.Value {
				ok = false
			}
		}
		if ok {
			return p.Value, true
		}
	}
	return 0, false
}

// TestHostMetrics: ObserveHost's figures move with what the host does: a
// call in flight, a lease held (slots in use, leases), and a restart
// (starts, restarts, deaths).
func TestHostMetrics(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	// The host's Inner, which the plugin's Outer calls back, waits for
	// release: meanwhile a call of each direction is in flight.
	entered, release := make(chan struct{}, 1), make(chan struct{})
	mux := session.NewMux()
	_, err = mux.HandleUnary(hostService, "Inner", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		entered <- struct{}{}
		<-release
		return plexus.Raw("inner"), nil
	})
	require.NoError(t, err)
	var log syncBuffer
	c, err := host.New(host.Config{
		HostServices: mux,
		Path:         exe, Name: "metered", Cookie: testCookie,
		Env:      []string{modeEnv + "=plugin", "GORACE=atexit_sleep_ms=0"},
		Versions: map[uint32][]host.ServiceDesc{1: {pluginDesc()}},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: &log, JSONFormat: true,
			Level: hclog.Debug, Mutex: &sync.Mutex{}}),
		StartTimeout: 20 * time.Second, GracePeriod: 2 * time.Second,
		Restart: host.RestartPolicy{MaxRestarts: 3, MinBackoff: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Start(context.Background()))

	r := sdkmetric.NewManualReader()
	reg, err := ObserveHost(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	require.NoError(t, err)
	defer reg.Unregister()
	plug := attrPlugin.String("metered")

	m := collect(t, r)
	starts, ok := m.point(MetricPluginStarts, plug)
	require.True(t, ok, "the client is observed")
	require.Equal(t, int64(1), starts)
	restarts, _ := m.point(MetricPluginRestarts, plug)
	require.Zero(t, restarts)
	leases, ok := m.point(MetricLeases, plug, attrLink.String("shared memory"))
	require.True(t, ok)
	require.Zero(t, leases)
	own64k := []attribute.KeyValue{plug, attrPool.String("own"), attrSlotSize.String("65536")}
	before, ok := m.point(MetricSlotsInUse, own64k...)
	require.True(t, ok, "the 64 KiB class of the host's pool is observed")

	// A lease: a slot in use and a lease out, until it is released.
	l, err := c.Session().Alloc(60 << 10)
	require.NoError(t, err)
	m = collect(t, r)
	leases, _ = m.point(MetricLeases, plug)
	require.Equal(t, int64(1), leases)
	inUse, _ := m.point(MetricSlotsInUse, own64k...)
	require.Equal(t, before+1, inUse)
	l.Release()
	m = collect(t, r)
	leases, _ = m.point(MetricLeases, plug)
	require.Zero(t, leases)
	inUse, _ = m.point(MetricSlotsInUse, own64k...)
	require.Equal(t, before, inUse)

	// A call in flight each way: the host's Outer, and the plugin's
	// callback Inner that the host serves.
	done := make(chan error, 1)
	go func() {
		var resp plexus.Raw
		done <- c.Invoke(context.Background(), plexus.MethodID(pluginService, "Outer"), plexus.Raw("x"), &resp)
	}()
	<-entered
	m = collect(t, r)
	out, _ := m.point(MetricCallsInFlight, plug, attrDirection.String("out"))
	in, _ := m.point(MetricCallsInFlight, plug, attrDirection.String("in"))
	require.Equal(t, []int64{1, 1}, []int64{out, in}, "calls in flight out and in")
	fill, ok := m.point(MetricRingFill, plug, attrDirection.String("tx"))
	require.True(t, ok)
	require.GreaterOrEqual(t, fill, int64(0))
	close(release)
	require.NoError(t, <-done)
	m = collect(t, r)
	out, _ = m.point(MetricCallsInFlight, plug, attrDirection.String("out"))
	require.Zero(t, out, "the call has finished")

	// A restart.
	require.NoError(t, syscall.Kill(c.Pid(), syscall.SIGKILL))
	require.True(t, waitFor(10*time.Second, 5*time.Millisecond, func() bool { return c.Restarts() == 1 && c.Pid() != 0 }),
		"the plugin was restarted")
	m = collect(t, r)
	starts, _ = m.point(MetricPluginStarts, plug)
	restarts, _ = m.point(MetricPluginRestarts, plug)
	deaths, _ := m.point(MetricPluginDeaths, plug)
	require.Equal(t, []int64{2, 1, 1}, []int64{starts, restarts, deaths}, "starts, restarts, deaths")
}
