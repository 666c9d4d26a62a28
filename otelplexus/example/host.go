package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/otelplexus"
	"github.com/plexus-ipc/plexus/session"
)

// knownTitles is what the host's example.Titles.Title answers; other names
// are NOT_FOUND.
var knownTitles = map[string]string{"Ada": "Countess", "Grace": "Rear Admiral"}

func title(_ context.Context, req []byte) (plexus.Marshaler, error) {
	if t, ok := knownTitles[string(req)]; ok {
		return plexus.Raw(t), nil
	}
	return nil, plexus.Errorf(plexus.NotFound, "no title for %q", req)
}

// options are the command line's.
type options struct {
	metricsAddr string
	serve       bool
}

// runHost is the host side: telemetry, the plugin, three calls, the
// plugin's close, one scrape of the metrics (and, with -serve, serving
// them until ctx ends).
func runHost(ctx context.Context, out io.Writer, o options) error {
	con := &console{w: out}
	say := con.source()
	tp, err := newTracerProvider(con.source(), "otelplexus-example-host")
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.Background()) }()
	metrics, err := serveMetrics(o.metricsAddr)
	if err != nil {
		return err
	}
	defer metrics.close()
	fmt.Fprintf(say, "metrics endpoint: %s\n", metrics.url())
	// Globals, which NewInterceptor uses by default (and anything else
	// of the program's that is traced).
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(metrics.mp)
	// The plugin's starts, restarts and deaths, and its link's figures,
	// read from the host's clients at each scrape.
	reg, err := otelplexus.ObserveHost(metrics.mp)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()

	if err := greetAll(ctx, say, con.source(), metrics, o.serve); err != nil {
		return err
	}
	// After the plugin's close: by then every call the host served has
	// ended and been counted.
	lines, err := metrics.scrape(context.WithoutCancel(ctx), "plexus_")
	if err != nil {
		return err
	}
	fmt.Fprintf(say, "plexus metrics at %s (histogram buckets left out):\n", metrics.url())
	for _, l := range lines {
		fmt.Fprintf(say, "  %s\n", l)
	}
	return nil
}

// greetAll starts the plugin, greets three names through it and closes it.
// The plugin's stdout (its spans) goes to pluginOut.
func greetAll(ctx context.Context, say, pluginOut io.Writer, metrics *metricsServer, serve bool) error {
	exe, err := os.Executable() // the plugin is this same program
	if err != nil {
		return err
	}
	hostMux := session.NewMux()
	if _, err := hostMux.HandleUnary(titles, "Title", title); err != nil {
		return err
	}
	client, err := host.New(host.Config{
		Path:         exe,
		Name:         "example-plugin",
		Cookie:       cookie,
		Versions:     map[uint32][]host.ServiceDesc{1: {greeterDesc}},
		HostServices: hostMux,
		Interceptors: []session.Interceptor{otelplexus.NewInterceptor()},
		// The plugin's spans, raw; its log entries at Warn and above
		// (its stdout forwarded into the log is at Info: left out).
		Stdout:       pluginOut,
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Warn, Output: os.Stderr}),
		StartTimeout: 20 * time.Second,
	})
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(say, "plugin started (pid %d)\n", client.Pid())
	for _, name := range []string{"Ada", "Grace", "Nobody"} {
		var resp plexus.Raw
		err := client.Invoke(ctx, greetID, plexus.Raw(name), &resp)
		switch {
		case err == nil:
			fmt.Fprintf(say, "Greet(%q) = %q\n", name, resp)
		case errors.Is(err, plexus.ErrNotFound):
			fmt.Fprintf(say, "Greet(%q) failed, as it should: %v\n", name, err)
		default:
			_ = client.Close()
			return err
		}
	}
	// While the plugin runs: its link, as ObserveHost reports it.
	var lines []string
	for _, prefix := range []string{"plexus_plugin_", "plexus_link_"} {
		l, err := metrics.scrape(ctx, prefix)
		if err != nil {
			_ = client.Close()
			return err
		}
		lines = append(lines, l...)
	}
	fmt.Fprintf(say, "plugin metrics while it runs:\n")
	for _, l := range lines {
		fmt.Fprintf(say, "  %s\n", l)
	}
	if serve {
		// For a person: the plugin stays up, its link open to look at.
		path, err := host.ServeInspect()
		if err != nil {
			_ = client.Close()
			return err
		}
		fmt.Fprintf(say, "serving until interrupted: plexus inspect %d (socket %s), metrics at %s\n", os.Getpid(), path, metrics.url())
		<-ctx.Done()
	}
	if err := client.Close(); err != nil {
		return err
	}
	fmt.Fprintln(say, "plugin closed")
	return nil
}
