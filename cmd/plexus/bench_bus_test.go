//go:build linux

package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkBusFanOut1 is plexus bench's bus_fanout1_msgs_per_sec alone:
// 64-byte messages from the host's bus to one plugin process, one
// second per iteration (go test -bench BusFanOut1 -benchtime 5x).
func BenchmarkBusFanOut1(b *testing.B) {
	var rates []float64
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rate, err := fanOut(ctx, 1, time.Second)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		rates = append(rates, rate)
	}
	b.ReportMetric(median(rates), "msgs/s")
	b.ReportMetric(slices.Min(rates), "min_msgs/s")
	b.ReportMetric(slices.Max(rates), "max_msgs/s")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
