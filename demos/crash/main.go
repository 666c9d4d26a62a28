//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/crash/fragile"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/host"
)

const cookie = "plexus-demo-crash"

func main() { demoutil.Main(pluginConfig, run) } // serves when started by the host in run

func run(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	calls := fs.Int("calls", 5, "calls in flight when the plugin crashes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The host's log and the demo's own lines share out.
	out := &demoutil.LockedWriter{W: w}
	client, err := demoutil.Start(ctx, host.Config{
		Name:     "fragile-plugin",
		Cookie:   cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {fragile.FragileServiceDesc}},
		// Restart a dead plugin up to 3 times in a row, after 50 ms, 100 ms, 200 ms.
		Restart: host.RestartPolicy{MaxRestarts: 3, MinBackoff: 50 * time.Millisecond},
		// The host's log (with the plugin's output forwarded into it)
		// goes to the demo's output, so that the crash can be seen.
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: out, Level: hclog.Info, DisableTime: true}),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	f := fragile.NewFragileClient(client)

	first, err := f.Work(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "plugin running as pid %d; Work answered from pid %d\n", client.Pid(), first)

	// Calls in flight: each would take a minute.
	errs := make(chan error, *calls)
	failed := make(chan time.Time, *calls)
	for range *calls {
		go func() {
			_, err := f.Work(ctx, time.Minute)
			failed <- time.Now()
			errs <- err
		}()
	}
	if err := waitInFlight(ctx, f, *calls); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d Work calls in flight; asking the plugin to crash\n", *calls)

	crashed := time.Now()
	if err := f.Crash(ctx, "the demo asked for it"); err != nil {
		return err
	}
	peerDied := 0
	var last time.Duration
	var example error
	for range *calls {
		at, err := <-failed, <-errs
		if errors.Is(err, plexus.ErrPeerDied) {
			peerDied++
			example = err
		} else {
			fmt.Fprintf(out, "an in-flight call ended with %v, not PEER_DIED\n", err)
		}
		last = max(last, at.Sub(crashed))
	}
	fmt.Fprintf(out, "%d of %d in-flight calls failed with PEER_DIED (errors.Is(err, plexus.ErrPeerDied)), the last %v after the crash request\n",
		peerDied, *calls, last.Round(100*time.Microsecond))
	if peerDied != *calls {
		return errors.New("not every in-flight call failed with PEER_DIED")
	}
	fmt.Fprintf(out, "  for example: %v\n", example)

	// The next call waits (within its context) for the restart.
	start := time.Now()
	pid, err := f.Work(ctx, 0)
	if err != nil {
		return fmt.Errorf("the call after the crash: %w", err)
	}
	fmt.Fprintf(out, "the next call succeeded %v later, answered by the restarted plugin, pid %d (restarts: %d)\n",
		time.Since(start).Round(time.Millisecond), pid, client.Restarts())
	if pid == first {
		return fmt.Errorf("the call after the crash was answered by the crashed pid %d", pid)
	}

	return demoutil.Close(out, client)
}

// waitInFlight polls until the plugin runs n Work calls (bounded by ctx
// and by a count).
func waitInFlight(ctx context.Context, f *fragile.FragileClient, n int) error {
	for range 1000 {
		got, err := f.InFlight(ctx)
		if err != nil {
			return err
		}
		if got == n {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("the plugin never had %d calls in flight", n)
}
