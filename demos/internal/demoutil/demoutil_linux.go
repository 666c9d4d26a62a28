package demoutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
)

// HostFunc is a demo's host part: it writes what it shows to out and takes
// the program's arguments (without the program name).
type HostFunc func(ctx context.Context, out io.Writer, args []string) error

// ServeIfPlugin serves config's services and exits if a host started this
// process as its plugin; otherwise it returns. A host starts its plugin
// with the PLEXUS_PLUGIN variable set (and the link's descriptors
// inherited), so the re-executed copy of a demo serves instead of hosting.
// A demo's test binary serves through it too (demotest.Main): it is the
// plugin of the host under test.
func ServeIfPlugin(config func() plugin.ServeConfig) {
	if os.Getenv("PLEXUS_PLUGIN") != "" {
		plugin.Serve(config()) // never returns
	}
}

// Main is a demo's main: in the plugin it serves config; in the host it
// runs run with a minute's deadline on stdout and the program's arguments,
// and exits with status 1 if run fails.
func Main(config func() plugin.ServeConfig, run HostFunc) {
	ServeIfPlugin(config)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := run(ctx, os.Stdout, os.Args[1:])
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// Start starts this same program as the plugin of a new host client
// configured by cfg, whose Path it sets.
func Start(ctx context.Context, cfg host.Config) (*host.Client, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg.Path = exe
	client, err := host.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	return client, nil
}

// Logger is the host's log of the demos: named "host", on stderr (their
// output is stdout), at level.
func Logger(level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr, Level: level})
}

// Close closes the client, which stops the plugin, and says so on out: the
// last line of every demo, which its test looks for.
func Close(out io.Writer, client *host.Client) error {
	if err := client.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "closed the plugin: ok")
	return nil
}
