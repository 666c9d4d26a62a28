package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv("PLEXUS_PLUGIN") != "" { // started by the host: be the plugin
		servePlugin()
	}
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:0", "address of the Prometheus endpoint (host:port; port 0 picks one)")
	flag.BoolVar(&o.serve, "serve", false, "keep the plugin running and serve the metrics and plexus inspect after the calls, until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runHost(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
