package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers/driver"
)

func main() {
	driver.MaybeHelper()
	os.Exit(run(os.Args[1:]))
}

func list(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(args []string) int {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "rounds of every peer under every condition (1 with -quick unless set)")
	quick := fs.Bool("quick", false, "smaller samples: a smoke run")
	peerList := fs.String("peers", "plexus,grpc,netrpc,uds", "peers to measure")
	condList := fs.String("conditions", "idle,busy,alloc", "conditions to measure under")
	out := fs.String("out", "", "directory to write peers.md, peers.json and peers.svg into")
	asJSON := fs.Bool("json", false, "print the JSON report instead of the Markdown table")
	bin := fs.String("bin", "", "directory of prebuilt plugin binaries (default: build them)")
	timeout := fs.Duration("timeout", 2*time.Hour, "bound of the whole run")
	from := fs.String("from", "", "render a saved JSON report (peers.json) instead of measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	roundsSet := false
	fs.Visit(func(f *flag.Flag) { roundsSet = roundsSet || f.Name == "rounds" })
	if *quick && !roundsSet {
		*rounds = 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var rep *driver.Report
	var err error
	if *from != "" {
		rep, err = driver.ReadReport(*from)
	} else {
		rep, err = driver.Run(ctx, driver.Config{
			Rounds: *rounds, Quick: *quick, Peers: list(*peerList), Conditions: list(*condList),
			BinDir: *bin, Progress: os.Stderr,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 1
	}
	if *asJSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteMarkdown(os.Stdout)
	}
	if err == nil && *out != "" {
		err = rep.WriteFiles(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 1
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "peers: %d measurement(s) failed\n", len(rep.Errors))
		return 1
	}
	return 0
}
