//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/demos/calculator/calc"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/host"
)

// cookie must match on both sides: it keeps this host from starting other
// programs' plugins and this plugin from serving other hosts.
const cookie = "plexus-demo-calculator"

func main() {
	// One binary plays both parts: a host starts its plugin with the
	// PLEXUS_PLUGIN variable set (and the link's descriptors inherited),
	// so in the re-executed copy of this program Main serves
	// pluginConfig instead of running the host's part, run.
	demoutil.Main(pluginConfig, run)
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("calculator", flag.ContinueOnError)
	level := fs.String("log", "warn", "host log level (trace, debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	start := time.Now()
	client, err := demoutil.Start(ctx, host.Config{
		Name:     "calculator-plugin",
		Cookie:   cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {calc.CalculatorServiceDesc}},
		Logger:   demoutil.Logger(hclog.LevelFromString(*level)),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(out, "started the calculator plugin (pid %d) and linked it over shared memory in %v\n",
		client.Pid(), time.Since(start).Round(100*time.Microsecond))

	// The generated client works on anything that implements
	// session.Conn; the host's client routes to the live plugin.
	c := calc.NewCalculatorClient(client)

	sum, err := c.Add(ctx, 2, 3)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "unary:         Add(2, 3) = %g\n", sum)

	q, err := c.Div(ctx, 10, 4)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "unary:         Div(10, 4) = %g\n", q)

	_, err = c.Div(ctx, 1, 0)
	var dz *calc.DivisionByZeroError
	if !errors.As(err, &dz) {
		return fmt.Errorf("Div(1, 0) returned %v, want a *calc.DivisionByZeroError", err)
	}
	fmt.Fprintf(out, "typed error:   Div(1, 0) failed with %T{Dividend: %g}: %v\n", dz, dz.Dividend, dz)

	var fib []string
	err = c.Fibonacci(ctx, 12, func(v uint64) error {
		fib = append(fib, fmt.Sprint(v))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server stream: Fibonacci(12) sent %s\n", strings.Join(fib, " "))

	next := 0
	total, n, err := c.Sum(ctx, func() (float64, error) {
		if next == 100 {
			return 0, io.EOF
		}
		next++
		return float64(next), nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "client stream: Sum(1..100) = %g over %d messages\n", total, n)

	inputs := []float64{1, 2, 3, 4, 5}
	var running []string
	stream, err := c.OpenRunning(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	for _, v := range inputs {
		// One at a time, to show the answers interleave with the sends.
		if err := stream.Send(v); err != nil {
			return err
		}
		r, err := stream.Recv()
		if err != nil {
			return err
		}
		running = append(running, fmt.Sprint(r))
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if _, err := stream.Recv(); err != io.EOF {
		return fmt.Errorf("Running ended with %v, want io.EOF", err)
	}
	fmt.Fprintf(out, "bidi stream:   Running(1 2 3 4 5) answered %s\n", strings.Join(running, " "))

	return demoutil.Close(out, client)
}
