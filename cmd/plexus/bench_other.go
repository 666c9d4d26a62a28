//go:build !linux

package main

import (
	"errors"
	"fmt"
	"io"
)

// plexus bench measures the shared-memory transport, which is Linux-only.

type benchConfig struct{}

func defaultConfig(quick bool) benchConfig { return benchConfig{} }

func runBench(benchConfig) (map[string]float64, error) {
	return nil, errors.New("plexus bench needs Linux: it measures the shared-memory transport")
}

func printTable(io.Writer, map[string]float64) {}

func pluginMain(_ []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bench-plugin: shared memory needs Linux")
	return 1
}
