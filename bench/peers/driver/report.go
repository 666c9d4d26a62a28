package driver

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fmtVal prints v with about three significant digits (integers from 1000).
func fmtVal(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 1 || a == 0:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// cellText is a table cell: the median and, over several rounds, the
// range.
func cellText(c Cell) string {
	if len(c.Values) == 1 {
		return fmtVal(c.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtVal(c.Median), fmtVal(c.Min), fmtVal(c.Max))
}

// WriteMarkdown writes the report as Markdown: a table per condition, a
// row per figure, a column per peer.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# plexus beside go-plugin and a raw Unix socket\n\n")
	rounds := fmt.Sprintf("%d rounds", r.Rounds)
	if r.Rounds == 1 {
		rounds = "1 round"
	}
	quick := ""
	if r.Quick {
		quick = ", -quick sizes"
	}
	fmt.Fprintf(&b, "%s, %s %s, %d CPUs, %s%s. ", r.Date, r.Go, r.Platform, r.CPUs, rounds, quick)
	if r.Rounds > 1 {
		b.WriteString("Each cell: the median of the rounds (the range of the rounds).")
	}
	fmt.Fprintf(&b, "\nEcho: %d calls after %d%s; 64 callers: %d calls each after %d; Put and Blob: %v calls at 1, 16 and 64 MiB, in four alternating turns; "+
		"start: median of %d; kill: median of %d. Blob answers are copies the caller owns, except plexus's: "+
		"views of the plugin's memory, released after their check (a lease; a generated client's []byte results "+
		"under plexus.WithViews), as Put's argument is a view in the plugin.\n",
		r.Sizes.EchoN, r.Sizes.EchoWarm, r.Sizes.warmText(), r.Sizes.CallerCalls, r.Sizes.CallerWarm, r.Sizes.BlobCalls, r.Sizes.Starts, r.Sizes.Kills)
	for _, cond := range r.Conditions {
		fmt.Fprintf(&b, "\n## %s\n\n| figure |", r.CondLabels[cond])
		for _, p := range r.Peers {
			fmt.Fprintf(&b, " %s |", p.Label)
		}
		b.WriteString("\n|---|")
		for range r.Peers {
			b.WriteString("--:|")
		}
		b.WriteString("\n")
		for _, f := range r.Figures {
			better := "lower is better"
			if f.HigherBetter {
				better = "higher is better"
			}
			fmt.Fprintf(&b, "| %s (%s; %s) |", f.Label, f.Unit, better)
			for _, p := range r.Peers {
				if c, ok := r.Cell(cond, p.Name, f.Key); ok {
					fmt.Fprintf(&b, " %s |", cellText(c))
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
		if m := r.machineText(cond); m != "" {
			b.WriteString("\n" + m)
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\n## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes peers.md, peers.json and peers.svg into dir, creating
// it if needed.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"peers.md": r.WriteMarkdown, "peers.json": r.WriteJSON, "peers.svg": r.WriteSVG,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// ReadReport reads a report that WriteJSON wrote, for writing it again in
// other forms. The figures' chart marks, which JSON does not carry, are
// taken from Figures.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, f := range r.Figures {
		for _, g := range Figures {
			if g.Key == f.Key {
				r.Figures[i].Chart = g.Chart
			}
		}
	}
	return &r, nil
}
