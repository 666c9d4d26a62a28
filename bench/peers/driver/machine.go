package driver

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plexus-ipc/plexus/internal/stallprobe"
)

// The machine is measured too: under every condition of every round,
// after the load has started and before the peers, a spinning thread per
// processor (internal/stallprobe) counts the times it lost its processor.
// A tail is read against them: a call that waits for another processor
// waits out that processor's stalls, and a virtual machine's processors
// stall hundreds of times a second where the guest cannot see it.

// MachineFigures are the probe's figures, in Report.Machine.
var MachineFigures = []Figure{
	{Key: "lost_pct", Label: "share of a spinning thread's time lost", Unit: "%"},
	{Key: "stalls_20us_per_s", Label: "stalls over 20 us, a second per thread", Unit: "1/s"},
	{Key: "unseen_20us_per_s", Label: "of them unseen by the guest's scheduler (no context switch)", Unit: "1/s"},
	{Key: "stalls_100us_per_s", Label: "stalls over 100 us, a second per thread", Unit: "1/s"},
}

// machineDur is how long the probe spins per condition and round.
const machineDur = 500 * time.Millisecond

// measureMachine runs the probe and returns its figures by key, and the
// probe's own result.
func measureMachine(sz Sizes) (map[string]float64, stallprobe.Result, error) {
	d := machineDur
	if sz.CallerCalls < 1000 {
		d = machineDur / 5 // a smoke run
	}
	r, err := stallprobe.Measure(d)
	if err != nil {
		return nil, r, err
	}
	got := map[string]float64{
		"lost_pct":           r.LostPct,
		"stalls_20us_per_s":  r.Over20us,
		"stalls_100us_per_s": r.Over100us,
	}
	if r.Unseen20us >= 0 {
		got["unseen_20us_per_s"] = r.Unseen20us
	}
	return got, r, nil
}

// machineCells turns the probe's values of each condition (one per round)
// into cells, with Peer "machine".
func machineCells(conds []string, values map[string]map[string][]float64) []Cell {
	var out []Cell
	for _, cond := range conds {
		for _, f := range MachineFigures {
			v := values[cond][f.Key]
			if len(v) == 0 {
				continue
			}
			out = append(out, Cell{Condition: cond, Peer: "machine", Figure: f.Key, Unit: f.Unit, Values: v,
				Min: slices.Min(v), Max: slices.Max(v), Median: median(slices.Clone(v))})
		}
	}
	return out
}

// machineCell returns the probe's cell of (condition, figure), if measured.
func (r *Report) machineCell(cond, fig string) (Cell, bool) {
	for _, c := range r.Machine {
		if c.Condition == cond && c.Figure == fig {
			return c, true
		}
	}
	return Cell{}, false
}

// machineText is the line under a condition's table that gives the
// probe's figures, or "" if there are none.
func (r *Report) machineText(cond string) string {
	var parts []string
	for _, f := range MachineFigures {
		if c, ok := r.machineCell(cond, f.Key); ok {
			parts = append(parts, fmt.Sprintf("%s %s", f.Label, cellText(c)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("The machine meanwhile (a thread per processor spinning %v before the peers, internal/stallprobe): %s.\n",
		machineDur, strings.Join(parts, "; "))
}
