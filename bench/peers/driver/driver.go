package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/bench/peers/grpcpeer"
	"github.com/plexus-ipc/plexus/bench/peers/netrpcpeer"
	"github.com/plexus-ipc/plexus/bench/peers/plexuspeer"
	"github.com/plexus-ipc/plexus/bench/peers/udspeer"
	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// AllPeers lists the peers in their table order.
var AllPeers = []peers.Peer{plexuspeer.Peer, grpcpeer.Peer, netrpcpeer.Peer, udspeer.Peer}

// Figure is one measured quantity.
type Figure struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Unit  string `json:"unit"`
	// HigherBetter says which way is better.
	HigherBetter bool `json:"higher_better"`
	// Chart: the figure has a panel in the SVG chart.
	Chart bool `json:"-"`
}

// Figures lists every figure in table order.
var Figures = []Figure{
	{Key: "echo_p50_us", Label: "echo 8 B, p50", Unit: "us", Chart: true},
	{Key: "echo_p90_us", Label: "echo 8 B, p90", Unit: "us"},
	{Key: "echo_p99_us", Label: "echo 8 B, p99", Unit: "us", Chart: true},
	{Key: "c64_calls_per_s", Label: "echo, 64 concurrent callers", Unit: "calls/s", HigherBetter: true, Chart: true},
	{Key: "put_1mib_gbps", Label: "Put 1 MiB (host to plugin)", Unit: "GB/s", HigherBetter: true},
	{Key: "put_16mib_gbps", Label: "Put 16 MiB", Unit: "GB/s", HigherBetter: true},
	{Key: "put_64mib_gbps", Label: "Put 64 MiB", Unit: "GB/s", HigherBetter: true, Chart: true},
	{Key: "blob_1mib_gbps", Label: "Blob 1 MiB (plugin to host)", Unit: "GB/s", HigherBetter: true},
	{Key: "blob_16mib_gbps", Label: "Blob 16 MiB", Unit: "GB/s", HigherBetter: true},
	{Key: "blob_64mib_gbps", Label: "Blob 64 MiB", Unit: "GB/s", HigherBetter: true, Chart: true},
	{Key: "start_ms", Label: "start to first completed call", Unit: "ms", Chart: true},
	{Key: "kill_ms", Label: "kill -9 to the blocked caller's error", Unit: "ms", Chart: true},
}

// Config is one comparison run.
type Config struct {
	// Rounds of every peer under every condition, interleaved.
	Rounds int
	// Quick uses the smaller sizes of a smoke run (SizesFor).
	Quick bool
	// Peers and Conditions select by name; empty means all.
	Peers, Conditions []string
	// BinDir holds prebuilt plugin binaries, each named after the last
	// element of its Peer.Plugin; empty: Run builds them with the go
	// command, from this module's source.
	BinDir string
	// Progress receives a line per measurement; nil discards them.
	Progress io.Writer
	// sizes, if set, replaces SizesFor(Quick) (tests).
	sizes *Sizes
}

// PeerInfo names a peer in a Report.
type PeerInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Cell is one figure of one peer under one condition, over the rounds.
type Cell struct {
	Condition string    `json:"condition"`
	Peer      string    `json:"peer"`
	Figure    string    `json:"figure"`
	Unit      string    `json:"unit"`
	Median    float64   `json:"median"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
	Values    []float64 `json:"values"` // one per round that measured it, in round order
}

// Report is the outcome of Run.
type Report struct {
	Date       string            `json:"date"`
	Go         string            `json:"go"`
	Platform   string            `json:"platform"`
	CPUs       int               `json:"cpus"`
	Rounds     int               `json:"rounds"`
	Quick      bool              `json:"quick"`
	Sizes      Sizes             `json:"sizes"`
	Peers      []PeerInfo        `json:"peers"`
	Conditions []string          `json:"conditions"`
	CondLabels map[string]string `json:"condition_labels"`
	Figures    []Figure          `json:"figures"`
	Cells      []Cell            `json:"cells"`
	// Machine holds the machine's own figures under each condition
	// (MachineFigures), one value per round; Peer is "machine".
	Machine []Cell `json:"machine,omitempty"`
	// Errors lists the measurements that failed (their figures of that
	// round are missing) and loads that did not hold.
	Errors []string `json:"errors,omitempty"`
}

// Cell returns the cell of (condition, peer, figure), if measured.
func (r *Report) Cell(cond, peer, fig string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Condition == cond && c.Peer == peer && c.Figure == fig {
			return c, true
		}
	}
	return Cell{}, false
}

func selectPeers(names []string) ([]peers.Peer, error) {
	if len(names) == 0 {
		return AllPeers, nil
	}
	var out []peers.Peer
	for _, p := range AllPeers {
		if slices.Contains(names, p.Name) {
			out = append(out, p)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(AllPeers, func(p peers.Peer) bool { return p.Name == n }) {
			return nil, fmt.Errorf("unknown peer %q (have plexus, grpc, netrpc, uds)", n)
		}
	}
	return out, nil
}

func selectConditions(names []string) ([]string, error) {
	if len(names) == 0 {
		return AllConditions, nil
	}
	var out []string
	for _, c := range AllConditions {
		if slices.Contains(names, c) {
			out = append(out, c)
		}
	}
	for _, n := range names {
		if !slices.Contains(AllConditions, n) {
			return nil, fmt.Errorf("unknown condition %q (have %s)", n, strings.Join(AllConditions, ", "))
		}
	}
	return out, nil
}

// moduleDir is the directory of this module's source, where the go command
// builds the plugins; "" (the working directory) if the source is not there.
func moduleDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	dir := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return ""
	}
	return dir
}

// buildPlugins builds the plugins of ps into dir with the go command.
func buildPlugins(ctx context.Context, dir string, ps []peers.Peer) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the plugins needs the go command on PATH: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, p := range ps {
		args = append(args, p.Plugin)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = moduleDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the plugins (run from bench/peers, or pass prebuilt ones with -bin): %v\n%s", err, out)
	}
	return nil
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// Run measures the selected peers under the selected conditions, Rounds
// times, each round visiting every condition and, under each, every peer
// (in an order rotated from one visit to the next), and returns the report.
// Failed measurements are listed in Report.Errors; the error is for what
// stops the run as a whole (selection, build, ctx).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	ps, err := selectPeers(cfg.Peers)
	if err != nil {
		return nil, err
	}
	conds, err := selectConditions(cfg.Conditions)
	if err != nil {
		return nil, err
	}
	rounds := max(cfg.Rounds, 1)
	sz := SizesFor(cfg.Quick)
	if cfg.sizes != nil {
		sz = *cfg.sizes
	}
	binDir := cfg.BinDir
	if binDir == "" {
		tmp, err := os.MkdirTemp("", "plexus-peers-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		cfg.progress("building %d plugins", len(ps))
		if err := buildPlugins(ctx, tmp, ps); err != nil {
			return nil, err
		}
		binDir = tmp
	}
	bins := map[string]string{}
	for _, p := range ps {
		b := filepath.Join(binDir, path.Base(p.Plugin))
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("plugin of %s: %w", p.Name, err)
		}
		bins[p.Name] = b
	}

	rep := &Report{
		Date:       time.Now().UTC().Format(time.RFC3339),
		Go:         runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		Rounds:     rounds,
		Quick:      cfg.Quick,
		Sizes:      sz,
		Conditions: conds,
		CondLabels: map[string]string{},
		Figures:    Figures,
	}
	for _, p := range ps {
		rep.Peers = append(rep.Peers, PeerInfo{p.Name, p.Label})
	}
	floor := ringFloorSupported()
	if floor {
		rep.Peers = append(rep.Peers, PeerInfo{FloorName, FloorLabel})
	}
	for _, c := range conds {
		rep.CondLabels[c] = conditionLabel[c]
	}
	// values[cond][peer][figure] holds one value per round.
	values := map[string]map[string]map[string][]float64{}
	machine := map[string]map[string][]float64{} // [cond][figure], a value per round
	visit := 0
	for r := range rounds {
		for _, cond := range conds {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			stop, err := StartCondition(cond)
			if err != nil {
				return nil, fmt.Errorf("condition %s: %w", cond, err)
			}
			if got, res, err := measureMachine(sz); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("round %d, %s, the machine's probe: %v", r+1, cond, err))
			} else {
				if machine[cond] == nil {
					machine[cond] = map[string][]float64{}
				}
				for k, v := range got {
					machine[cond][k] = append(machine[cond][k], v)
				}
				cfg.progress("round %d/%d  %-6s machine  %s", r+1, rounds, cond, res)
			}
			order := append(slices.Clone(ps[visit%len(ps):]), ps[:visit%len(ps)]...)
			visit++
			for _, p := range order {
				// Every peer starts from the kernel's default time slice:
				// plexus's host asks for its own when it starts a plugin
				// (host.Config.TimeSlice), in this process, and that
				// must not carry over to the peers measured after it.
				if err := timeslice.Set(0); err != nil && !errors.Is(err, timeslice.ErrUnsupported) {
					return nil, err
				}
				t0 := time.Now()
				got, err := measurePeer(ctx, p, bins[p.Name], sz)
				if values[cond] == nil {
					values[cond] = map[string]map[string][]float64{}
				}
				if values[cond][p.Name] == nil {
					values[cond][p.Name] = map[string][]float64{}
				}
				for k, v := range got {
					values[cond][p.Name][k] = append(values[cond][p.Name][k], v)
				}
				if err != nil {
					rep.Errors = append(rep.Errors, fmt.Sprintf("round %d, %s, %s: %v", r+1, cond, p.Name, err))
					cfg.progress("round %d/%d  %-6s %-7s FAILED: %v", r+1, rounds, cond, p.Name, err)
					continue
				}
				cfg.progress("round %d/%d  %-6s %-7s %5.1fs  echo p50 %s us, 64 callers %s calls/s, blob 64 MiB %s GB/s, start %s ms, kill %s ms",
					r+1, rounds, cond, p.Name, time.Since(t0).Seconds(), fmtVal(got["echo_p50_us"]),
					fmtVal(got["c64_calls_per_s"]), fmtVal(got["blob_64mib_gbps"]), fmtVal(got["start_ms"]), fmtVal(got["kill_ms"]))
			}
			if floor {
				got, err := measureFloor(sz)
				if values[cond] == nil {
					values[cond] = map[string]map[string][]float64{}
				}
				if err != nil {
					rep.Errors = append(rep.Errors, fmt.Sprintf("round %d, %s, %s: %v", r+1, cond, FloorName, err))
				} else {
					values[cond][FloorName] = map[string][]float64{"c64_calls_per_s": append(values[cond][FloorName]["c64_calls_per_s"], got)}
					cfg.progress("round %d/%d  %-6s %-7s 64 callers %s calls/s", r+1, rounds, cond, FloorName, fmtVal(got))
				}
			}
			if err := stop(); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("round %d, %s: the load did not hold: %v", r+1, cond, err))
			}
		}
	}
	names := make([]string, 0, len(rep.Peers))
	for _, p := range rep.Peers {
		names = append(names, p.Name)
	}
	for _, cond := range conds {
		for _, name := range names {
			for _, f := range Figures {
				v := values[cond][name][f.Key]
				if len(v) == 0 {
					continue
				}
				c := Cell{Condition: cond, Peer: name, Figure: f.Key, Unit: f.Unit, Values: v,
					Min: slices.Min(v), Max: slices.Max(v), Median: median(slices.Clone(v))}
				rep.Cells = append(rep.Cells, c)
			}
		}
	}
	rep.Machine = machineCells(conds, machine)
	return rep, nil
}
