//go:build linux

package main

import (
	"context"
	"io"

	"github.com/plexus-ipc/plexus/demos/calculator/calc"
	"github.com/plexus-ipc/plexus/plugin"
)

// calculator implements calc.Calculator in the plugin process.
type calculator struct{}

var _ calc.Calculator = calculator{}

func (calculator) Add(_ context.Context, a, b float64) (float64, error) { return a + b, nil }

func (calculator) Div(_ context.Context, a, b float64) (float64, error) {
	if b == 0 {
		return 0, &calc.DivisionByZeroError{Dividend: a}
	}
	return a / b, nil
}

func (calculator) Fibonacci(ctx context.Context, n int, send func(uint64) error) error {
	a, b := uint64(0), uint64(1)
	for range n {
		if err := send(a); err != nil {
			return err
		}
		a, b = b, a+b
	}
	return nil
}

func (calculator) Sum(_ context.Context, recv func() (float64, error)) (float64, int, error) {
	total, n := 0.0, 0
	for {
		v, err := recv()
		if err == io.EOF {
			return total, n, nil
		}
		if err != nil {
			return 0, 0, err
		}
		total += v
		n++
	}
}

func (calculator) Running(_ context.Context, recv func() (float64, error), send func(float64) error) error {
	total := 0.0
	for {
		v, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		total += v
		if err := send(total); err != nil {
			return err
		}
	}
}

// pluginConfig is what the plugin serves: the generated service, bound to
// the implementation.
func pluginConfig() plugin.ServeConfig {
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {calc.NewCalculatorService(calculator{})},
		},
	}
}
