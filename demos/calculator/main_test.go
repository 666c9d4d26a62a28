//go:build linux

package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demotest"
)

// TestMain lets the test binary be the demo's plugin, as the demo's own
// binary is.
func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	s := demotest.Run(t, run)
	for _, want := range []string{
		"and linked it over shared memory in ",
		"unary:         Add(2, 3) = 5\n",
		"unary:         Div(10, 4) = 2.5\n",
		"typed error:   Div(1, 0) failed with *calc.DivisionByZeroError{Dividend: 1}: division of 1 by zero\n",
		"server stream: Fibonacci(12) sent 0 1 1 2 3 5 8 13 21 34 55 89\n",
		"client stream: Sum(1..100) = 5050 over 100 messages\n",
		"bidi stream:   Running(1 2 3 4 5) answered 1 3 6 10 15\n",
		"closed the plugin: ok\n",
	} {
		require.Contains(t, s, want)
	}
}
