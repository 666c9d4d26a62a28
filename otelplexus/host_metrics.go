package otelplexus

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/shm"
)

// Metric names of the host's plugins and their links (ObserveHost).
const (
	MetricPluginStarts   = "plexus.plugin.starts"
	MetricPluginRestarts = "plexus.plugin.restarts"
	MetricPluginDeaths   = "plexus.plugin.deaths"
	MetricCallsInFlight  = "plexus.link.calls_in_flight"
	MetricRingFill       = "plexus.link.ring.fill"
	MetricSlotsInUse     = "plexus.link.slots.in_use"
	MetricLeases         = "plexus.link.leases"
	MetricBlobs          = "plexus.link.blobs"
	MetricBlobBytes      = "plexus.link.blob.bytes"
)

// Attribute keys of the host metrics.
const (
	attrPlugin    = attribute.Key("plexus.plugin")
	attrLink      = attribute.Key("plexus.link")
	attrDirection = attribute.Key("plexus.direction")
	attrPool      = attribute.Key("plexus.pool")
	attrSlotSize  = attribute.Key("plexus.slot_size")
	attrBlobState = attribute.Key("plexus.blob_state")
)

// hostInstruments are ObserveHost's observable instruments.
type hostInstruments struct {
	starts, restarts, deaths metric.Int64ObservableCounter
	inFlight, ringFill       metric.Int64ObservableGauge
	slots, leases            metric.Int64ObservableGauge
	blobs, blobBytes         metric.Int64ObservableGauge
}

// ObserveHost registers instruments on mp (default: the global provider)
// that read, at each collection, the figures of every client of this
// process that has started and is not closed (host.Inspect, which asks no
// plugin anything): plugin starts, restarts and deaths (counters), calls
// in flight each way, and on shared memory the rings' fill each way, slots
// in use per pool and size class, leases out with the caller, and blob
// buffers by state with their bytes (gauges). Every point carries the
// client's name (plexus.plugin) and link kind (plexus.link). Unregister the
// returned registration to stop.
func ObserveHost(mp metric.MeterProvider) (metric.Registration, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	var in hostInstruments
	var err error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, e := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, e := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if e != nil && err == nil {
			err = e
		}
		return g
	}
	in.starts = counter(MetricPluginStarts, "{instance}", "Plugin instances started: the first and every restart.")
	in.restarts = counter(MetricPluginRestarts, "{instance}", "Plugin restarts after a death.")
	in.deaths = counter(MetricPluginDeaths, "{instance}", "Plugin instances that ended unasked (died, stopped answering, lost the link).")
	in.inFlight = gauge(MetricCallsInFlight, "{call}", "Calls not finished: out, made by the host; in, made by the plugin and served by the host.")
	in.ringFill = gauge(MetricRingFill, "{descriptor}", "Descriptors published and not yet taken: tx, host to plugin; rx, plugin to host.")
	in.slots = gauge(MetricSlotsInUse, "{slot}", "Slots in use, by pool (own: the host's, which it sends from; peer: the plugin's) and slot size.")
	in.leases = gauge(MetricLeases, "{buffer}", "Buffers from Alloc (leases) out with the host's code.")
	in.blobs = gauge(MetricBlobs, "{buffer}", "Blob buffers by state: pooled, with_peer, lease, peer_mapped, received.")
	in.blobBytes = gauge(MetricBlobBytes, "By", "Bytes of the host's blob buffer cache, and of one-shot blobs received and held.")
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, cs := range host.Inspect().Clients {
			in.observe(o, &cs)
		}
		return nil
	}, in.starts, in.restarts, in.deaths, in.inFlight, in.ringFill, in.slots, in.leases, in.blobs, in.blobBytes)
}

// observe reports one client's figures.
func (in *hostInstruments) observe(o metric.Observer, cs *host.ClientStats) {
	base := []attribute.KeyValue{attrPlugin.String(cs.Name), attrLink.String(cs.Link)}
	with := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributes(append(append([]attribute.KeyValue{}, base...), kv...)...)
	}
	all := with()
	o.ObserveInt64(in.starts, int64(cs.Starts), all)
	o.ObserveInt64(in.restarts, int64(cs.Restarts), all)
	o.ObserveInt64(in.deaths, int64(cs.Deaths), all)
	if s := cs.Session; s != nil {
		o.ObserveInt64(in.inFlight, int64(s.CallsOut), with(attrDirection.String("out")))
		o.ObserveInt64(in.inFlight, int64(s.CallsIn), with(attrDirection.String("in")))
	}
	sm := cs.SharedMemory
	if sm == nil || sm.Closed {
		return
	}
	o.ObserveInt64(in.ringFill, int64(sm.TX.Pending), with(attrDirection.String("tx")))
	o.ObserveInt64(in.ringFill, int64(sm.RX.Pending), with(attrDirection.String("rx")))
	for pool, classes := range map[string][]shm.ClassUse{"own": sm.Own, "peer": sm.Peer} {
		for _, c := range classes {
			o.ObserveInt64(in.slots, int64(c.InUse), with(attrPool.String(pool), attrSlotSize.String(strconv.Itoa(c.Size))))
		}
	}
	o.ObserveInt64(in.leases, int64(sm.Leases), all)
	b := sm.Blobs
	for state, n := range map[string]int{"pooled": b.Pooled, "with_peer": b.WithPeer, "lease": b.Leases,
		"peer_mapped": b.PeerMapped, "received": b.Received} {
		o.ObserveInt64(in.blobs, int64(n), with(attrBlobState.String(state)))
	}
	o.ObserveInt64(in.blobBytes, b.Bytes, with(attrBlobState.String("cache")))
	o.ObserveInt64(in.blobBytes, b.OneShotBytes, with(attrBlobState.String("received_one_shot")))
}
