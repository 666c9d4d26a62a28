package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/shm"
)

// Render writes doc for people: a line about the host, then a small
// table per client (state and uptime, restarts, calls in flight, ring
// fill, slot use per class, buffers, blobs, last error).
func Render(w io.Writer, doc *host.InspectDoc) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := len(doc.Clients)
	fmt.Fprintf(tw, "host pid %d: %d live plugin %s at %s\n", doc.Pid, n, plural(n, "link", "links"),
		doc.Time.Local().Format(time.TimeOnly))
	for i := range doc.Clients {
		fmt.Fprintln(tw)
		renderClient(tw, &doc.Clients[i])
	}
	return tw.Flush()
}

func renderClient(w io.Writer, c *host.ClientStats) {
	who := fmt.Sprintf("pid %d", c.Pid)
	switch {
	case c.Attached != "":
		who = "attached at " + c.Attached
	case c.Pid == 0:
		who = "no process"
	}
	fmt.Fprintf(w, "%s\t%s\n", c.Name, who)
	state := c.State
	if c.State == "running" {
		state += ", up " + uptime(c.Uptime)
	}
	state += ", " + c.Link
	if c.Version != 0 {
		state += fmt.Sprintf(", version %d", c.Version)
	}
	row(w, "state", state)
	row(w, "restarts", fmt.Sprintf("%d (starts %d, deaths %d)", c.Restarts, c.Starts, c.Deaths))
	if s := c.Session; s != nil {
		row(w, "calls", fmt.Sprintf("out %d, in %d; channels %d; frames received %d",
			s.CallsOut, s.CallsIn, s.Channels, s.FramesReceived))
		if s.Ended {
			row(w, "session", "ended: "+s.Err)
		}
	}
	if m := c.SharedMemory; m != nil {
		switch {
		case m.Closed:
			row(w, "link", "closed")
		default:
			if m.Fault != "" {
				row(w, "link", "broken: "+m.Fault)
			}
			row(w, "ring", fmt.Sprintf("tx %d/%d, rx %d/%d", m.TX.Pending, m.TX.Capacity, m.RX.Pending, m.RX.Capacity))
			row(w, "slots", "own  "+classes(m.Own))
			row(w, "", "peer "+classes(m.Peer))
			row(w, "buffers", fmt.Sprintf("%d leased, %d received held", m.Leases, m.Held))
			b := &m.Blobs
			row(w, "blobs", fmt.Sprintf("own %d pooled (%s), %d with peer, %d leased, %s in all; peer's %d mapped (%s), %d received (%s one-shot)",
				b.Pooled, size(b.PooledBytes), b.WithPeer, b.Leases, size(b.Bytes),
				b.PeerMapped, size(b.PeerBytes), b.Received, size(b.OneShotBytes)))
		}
	}
	last := c.LastError
	if last == "" {
		last = "-"
	}
	row(w, "last error", oneLine(last))
}

// row is one line of a client's table, indented under its name.
func row(w io.Writer, label, value string) {
	fmt.Fprintf(w, "  %s\t%s\n", label, value)
}

// classes is a pool's use, class by class: "256B 3/512  4KiB 0/128".
func classes(cs []shm.ClassUse) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d/%d", size(int64(c.Size)), c.InUse, c.Count)
	}
	return strings.Join(parts, "  ")
}

// size writes a byte count in binary units: whole ones exactly ("4KiB"),
// others to a tenth ("1.5MiB").
func size(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	u, div := 0, int64(1024)
	for u < len(units)-1 && n >= div*1024 {
		u, div = u+1, div*1024
	}
	if n%div == 0 {
		return fmt.Sprintf("%d%ciB", n/div, units[u])
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), units[u])
}

// uptime rounds to what a person reads: milliseconds under a second,
// seconds after.
func uptime(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// oneLine keeps an error of several lines (a start error quoting stderr)
// on its row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
