package driver

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	panelW, panelH = 520, 300
	panelCols      = 2
	plotLeft       = 64 // room for the axis labels
	plotRight      = 12
	plotTop        = 40 // room for the panel title
	plotBottom     = 44 // room for the condition labels
	legendH        = 56
)

// peerColors are the bar colours, by peer index.
var peerColors = []string{"#1b9e77", "#d95f02", "#7570b3", "#666666", "#e7298a", "#66a61e"}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// WriteSVG draws the key figures as bar charts: a panel per figure, on a
// logarithmic axis of its own; in each panel a group of bars per condition,
// a bar per peer at the median, and a line over the range of the rounds.
func (r *Report) WriteSVG(w io.Writer) error {
	var figs []Figure
	for _, f := range r.Figures {
		if f.Chart {
			figs = append(figs, f)
		}
	}
	rows := (len(figs) + panelCols - 1) / panelCols
	width := panelCols * panelW
	height := legendH + rows*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	title := fmt.Sprintf("plexus beside go-plugin and a raw Unix socket: medians of %d round(s), %s, %d CPUs (log scales)", r.Rounds, r.Platform, r.CPUs)
	fmt.Fprintf(&b, `<text x="12" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", xmlEscaper.Replace(title))
	x := 12.0
	for i, p := range r.Peers {
		fmt.Fprintf(&b, `<rect x="%.1f" y="32" width="12" height="12" fill="%s"/>`, x, peerColors[i%len(peerColors)])
		fmt.Fprintf(&b, `<text x="%.1f" y="42">%s</text>`+"\n", x+16, xmlEscaper.Replace(p.Label))
		x += 24 + 7*float64(len(p.Label))
	}
	for i, f := range figs {
		r.panel(&b, f, float64(i%panelCols*panelW), float64(legendH+i/panelCols*panelH))
	}
	if len(figs)%panelCols != 0 {
		// The free cell of the last row says how to read the chart.
		ox, oy := float64(len(figs)%panelCols*panelW+plotLeft), float64(legendH+(rows-1)*panelH+plotTop)
		for i, line := range r.notes() {
			x := ox
			if indented, ok := strings.CutPrefix(line, "  "); ok {
				x, line = ox+12, indented // SVG collapses leading spaces
			}
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", x, oy+float64(i)*16, xmlEscaper.Replace(line))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel draws one figure with its top left corner at (ox, oy).
func (r *Report) panel(b *strings.Builder, f Figure, ox, oy float64) {
	better := "lower is better"
	if f.HigherBetter {
		better = "higher is better"
	}
	fmt.Fprintf(b, `<g transform="translate(%.0f,%.0f)">`+"\n", ox, oy)
	fmt.Fprintf(b, `<text x="%d" y="18" font-size="12" font-weight="bold">%s (%s; %s)</text>`+"\n",
		plotLeft, xmlEscaper.Replace(f.Label), xmlEscaper.Replace(f.Unit), better)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range r.Cells {
		if c.Figure == f.Key && c.Min > 0 {
			lo, hi = math.Min(lo, c.Min), math.Max(hi, c.Max)
		}
	}
	pw, ph := float64(panelW-plotLeft-plotRight), float64(panelH-plotTop-plotBottom)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", plotLeft, plotTop, pw, ph)
	if math.IsInf(lo, 0) {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">no data</text></g>`+"\n", plotLeft+pw/2, plotTop+ph/2)
		return
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	yOf := func(v float64) float64 { return plotTop + ph - (math.Log10(v)-dlo)/(dhi-dlo)*ph }
	for d := dlo; d <= dhi; d++ {
		y := yOf(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ccc"/>`, plotLeft, plotLeft+pw, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-4, y+4, decade(d))
		for _, m := range []float64{2, 5} {
			if d < dhi {
				y := yOf(m * math.Pow(10, d))
				fmt.Fprintf(b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", plotLeft, plotLeft+pw, y, y)
			}
		}
	}
	groupW := pw / float64(len(r.Conditions))
	barW := groupW * 0.8 / float64(len(r.Peers))
	for gi, cond := range r.Conditions {
		gx := plotLeft + float64(gi)*groupW
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", gx+groupW/2, plotTop+ph+16, xmlEscaper.Replace(cond))
		for pi, p := range r.Peers {
			c, ok := r.Cell(cond, p.Name, f.Key)
			bx := gx + groupW*0.1 + float64(pi)*barW
			if !ok || c.Median <= 0 {
				fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="9">n/a</text>`+"\n", bx+barW/2, plotTop+ph-4)
				continue
			}
			y := yOf(c.Median)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s %s</title></rect>`+"\n",
				bx+1, y, barW-2, plotTop+ph-y, peerColors[pi%len(peerColors)],
				xmlEscaper.Replace(p.Label), cond, cellText(c), xmlEscaper.Replace(f.Unit))
			if c.Max > c.Min && c.Min > 0 {
				cx := bx + barW/2
				fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, cx, yOf(c.Min), yOf(c.Max))
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n",
				bx+barW/2, math.Min(yOf(c.Max), y)-3, shortVal(c.Median))
		}
	}
	b.WriteString("</g>\n")
}

// decade labels 10^d compactly.
func decade(d float64) string {
	v := math.Pow(10, d)
	switch {
	case d >= 6 || d <= -3:
		return fmt.Sprintf("1e%d", int(d))
	case d >= 3:
		return fmt.Sprintf("%dk", int(v/1000))
	default:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
}

// shortVal labels a bar: three significant digits, k and M for large values.
func shortVal(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// notes are the chart's reading notes.
func (r *Report) notes() []string {
	lines := []string{
		"Bars: the median of the rounds; lines: their range.",
		"Each panel has a logarithmic axis of its own.",
		fmt.Sprintf("Echo: %d calls of 8 bytes; 64 callers: %d calls each after %d;", r.Sizes.EchoN, r.Sizes.CallerCalls, r.Sizes.CallerWarm),
		fmt.Sprintf("Put, Blob: %v calls of 1, 16, 64 MiB, contents checked;", r.Sizes.BlobCalls),
		fmt.Sprintf("start: median of %d starts; kill: median of %d kills.", r.Sizes.Starts, r.Sizes.Kills),
		"Conditions:",
	}
	for _, c := range r.Conditions {
		lines = append(lines, "  "+c+": "+r.CondLabels[c])
	}
	return append(lines, "", r.Date+", "+r.Go)
}
