//go:build linux

package main

import (
	"context"
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
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
