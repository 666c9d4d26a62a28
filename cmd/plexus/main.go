package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/plexus-ipc/plexus/internal/loadgen"
	"github.com/plexus-ipc/plexus/internal/ringfloor"
	"github.com/plexus-ipc/plexus/internal/udsbench"
)

const usage = `usage: plexus <command> [flags]

commands:
  gen [-check] [dir...]    write the client and server code of the services in a package
  bench [-quick] [-json]   measure plexus against its performance targets
  inspect [-json] [-watch] [-interval 1s] [-count N] PID
                           show the live plugin links of a host process that
                           called host.ServeInspect
`

// pluginEnv marks a re-executed binary as a bench plugin even if its
// arguments were rewritten (a test binary, for instance).
const pluginEnv = "PLEXUS_BENCH_PLUGIN"

func main() {
	loadgen.MaybeHelper()
	udsbench.MaybeServePeer()
	ringfloor.MaybeServe()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if os.Getenv(pluginEnv) != "" || (len(args) > 0 && args[0] == "bench-plugin") {
		if len(args) > 0 && args[0] == "bench-plugin" {
			args = args[1:]
		}
		return pluginMain(args, stderr)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "bench":
		return benchMain(args[1:], stdout, stderr)
	case "gen":
		return genMain(args[1:], stdout, stderr)
	case "inspect":
		return inspectMain(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "plexus: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "smaller sample sizes (under 40 s)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "plexus bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg := defaultConfig(*quick)
	res, err := runBench(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "plexus bench: %v\n", err)
		return 1
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintf(stderr, "plexus bench: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	printTable(stdout, res)
	return 0
}
