package udsbench

import (
	"testing"
	"time"
)

// Benchmark is the yardstick benchmark that every package with figures
// runs in the same `go test -bench` invocation as its own: b.N round trips
// against a fresh peer process, reported as ns/op plus p50 and p99.
func Benchmark(b *testing.B) {
	p, err := StartPeer()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if err := PingPong(p.Conn, b.N, lat); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	ReportLatency(b, lat)
}

// ReportLatency reports the median and the 99th percentile of lat (which it
// sorts) as the metrics p50_us and p99_us: on a noisy machine the mean that
// ns/op shows hides what matters.
func ReportLatency(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(Percentile(lat, 50).Nanoseconds())/1e3, "p50_us")
	b.ReportMetric(float64(Percentile(lat, 99).Nanoseconds())/1e3, "p99_us")
}
