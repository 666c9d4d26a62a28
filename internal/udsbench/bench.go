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

// ReportLatency reports the median, the 90th and the 99th percentile of
// lat (which it sorts) as the metrics p50_us, p90_us and p99_us: on a noisy
// machine the mean that ns/op shows hides what matters, and a tail of a
// few percent of slow calls (a doorbell's wake-up each) shows at p90
// before it moves the mean.
func ReportLatency(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(Percentile(lat, 50).Nanoseconds())/1e3, "p50_us")
	b.ReportMetric(float64(Percentile(lat, 90).Nanoseconds())/1e3, "p90_us")
	b.ReportMetric(float64(Percentile(lat, 99).Nanoseconds())/1e3, "p99_us")
}
