package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/plexus-ipc/plexus/internal/inspect"
)

// clearScreen moves the cursor home and clears the terminal, so that
// -watch redraws in place (ANSI; Windows terminals understand it too).
const clearScreen = "\x1b[H\x1b[2J"

// inspectMain is "plexus inspect [-json] [-watch] [-interval d] [-count n]
// PID": it reads the introspection document of a host process that
// called host.ServeInspect, once, or with -watch every interval, at most
// count times (0: until interrupted). Reading it costs the host a look at
// its clients' counters and asks no plugin anything, so it neither stops
// nor slows the links it shows.
func inspectMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the host's document as it came (one indented JSON object per refresh)")
	watch := fs.Bool("watch", false, "refresh every -interval until interrupted (or -count refreshes)")
	interval := fs.Duration("interval", time.Second, "time between refreshes with -watch")
	count := fs.Int("count", 0, "with -watch, stop after this many refreshes (0: no limit); implies -watch when above 1")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: plexus inspect [-json] [-watch] [-interval 1s] [-count N] PID")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	pid, err := strconv.Atoi(fs.Arg(0))
	if err != nil || pid <= 0 {
		fmt.Fprintf(stderr, "plexus inspect: %q is not a process ID\n", fs.Arg(0))
		return 2
	}
	if *interval <= 0 || *count < 0 {
		fmt.Fprintln(stderr, "plexus inspect: -interval must be positive and -count not negative")
		return 2
	}
	n := 1
	if *watch || *count > 1 {
		n = *count // 0: no limit
	}
	ctx := context.Background()
	for i := 0; n == 0 || i < n; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		raw, doc, err := inspect.Fetch(ctx, pid)
		if err != nil {
			fmt.Fprintf(stderr, "plexus inspect: %v\n", err)
			return 1
		}
		if *asJSON {
			var b bytes.Buffer
			if err := json.Indent(&b, raw, "", "  "); err != nil {
				fmt.Fprintf(stderr, "plexus inspect: %v\n", err)
				return 1
			}
			b.WriteByte('\n')
			_, err = stdout.Write(b.Bytes())
		} else {
			if n != 1 {
				fmt.Fprint(stdout, clearScreen)
			}
			err = inspect.Render(stdout, &doc)
		}
		if err != nil {
			fmt.Fprintf(stderr, "plexus inspect: %v\n", err)
			return 1
		}
	}
	return 0
}
