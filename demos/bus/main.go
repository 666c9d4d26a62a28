//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

const cookie = "plexus-demo-bus"

// plugins are the names of the plugins the host starts.
var plugins = []string{"indexer", "thumbnailer", "auditor"}

func main() { demoutil.Main(pluginConfig, run) } // serves when started by the host in run

// demo is the host's side: its bus, the plugins it serves it to, and its
// subscription to their reports.
type demo struct {
	out     io.Writer
	bus     *bus.Bus
	clients []*host.Client
	reports *bus.Subscription
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("bus", flag.ContinueOnError)
	jobs := fs.Int("jobs", 12, "jobs for the queue group")
	frameMiB := fs.Int("frame-mib", 16, "the broadcast frame's size in MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *jobs < 1 || *frameMiB < 1 || *frameMiB > 256 {
		return fmt.Errorf("want -jobs >= 1 and -frame-mib in 1..256")
	}
	b, err := bus.New(bus.Config{})
	if err != nil {
		return err
	}
	defer b.Close()
	d := &demo{out: out, bus: b}
	// Subscribed before the plugins start: no report is missed.
	if d.reports, err = b.Subscribe(ctx, "report.>", bus.SubOptions{Buffer: 256}); err != nil {
		return err
	}
	defer d.close()
	if err := d.start(ctx); err != nil {
		return err
	}
	if err := d.events(ctx); err != nil {
		return err
	}
	if err := d.jobs(ctx, *jobs); err != nil {
		return err
	}
	if err := d.frame(ctx, *frameMiB<<20); err != nil {
		return err
	}
	if err := d.close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "closed the plugins: ok")
	return nil
}

// start serves the bus to the plugins (buslink on the host services
// every plugin reaches) and starts them, then waits until each has
// subscribed.
func (d *demo) start(ctx context.Context) error {
	mux := session.NewMux()
	if err := buslink.Register(mux, d.bus); err != nil {
		return err
	}
	for _, name := range plugins {
		c, err := demoutil.Start(ctx, host.Config{
			Name: name, Cookie: cookie, Env: []string{nameEnv + "=" + name},
			Versions:     map[uint32][]host.ServiceDesc{1: {service().Desc()}},
			HostServices: mux,
			Logger:       demoutil.Logger(hclog.Warn),
		})
		if c != nil {
			d.clients = append(d.clients, c)
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
	}
	for range plugins {
		if _, _, err := d.report(ctx, "ready"); err != nil {
			return err
		}
	}
	pids := make([]string, len(d.clients))
	for i, c := range d.clients {
		pids[i] = fmt.Sprintf("%s (pid %d)", plugins[i], c.Pid())
	}
	fmt.Fprintf(d.out, "bus served to %d plugins over shared memory: %s\n", len(plugins), strings.Join(pids, ", "))
	return nil
}

// report returns the next report, which must be of kind: the plugin's
// name and the report's data.
func (d *demo) report(ctx context.Context, kind string) (string, []byte, error) {
	m, err := d.reports.Next(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("waiting for a %s report: %w", kind, err)
	}
	defer func() { _ = m.Done() }()
	got, name, _ := strings.Cut(strings.TrimPrefix(m.Subject, "report."), ".")
	if got == "error" {
		return "", nil, fmt.Errorf("%s: %s", name, m.Data)
	}
	if got != kind {
		return "", nil, fmt.Errorf("%s reported %s, want %s", name, got, kind)
	}
	return name, slices.Clone(m.Data), nil
}

// events publishes three events; every plugin sees each.
func (d *demo) events(ctx context.Context) error {
	fmt.Fprintln(d.out, "events, fanned out to every plugin (subscribed to doc.*.saved):")
	ids := []int{17, 42, 99}
	for _, id := range ids {
		res, err := d.bus.Publish(ctx, &bus.Message{Subject: "doc." + strconv.Itoa(id) + ".saved"})
		if err != nil {
			return err
		}
		if res.Delivered != len(plugins) {
			return fmt.Errorf("event %d reached %d plugins", id, res.Delivered)
		}
	}
	seen := map[string][]string{}
	for range len(ids) * len(plugins) {
		name, subject, err := d.report(ctx, "seen")
		if err != nil {
			return err
		}
		seen[string(subject)] = append(seen[string(subject)], name)
	}
	for _, id := range ids {
		subject := "doc." + strconv.Itoa(id) + ".saved"
		who := seen[subject]
		slices.Sort(who)
		fmt.Fprintf(d.out, "  %s -> %s\n", subject, strings.Join(who, ", "))
		if len(who) != len(plugins) {
			return fmt.Errorf("%s reached %d plugins", subject, len(who))
		}
	}
	return nil
}

// jobs publishes n jobs to the queue group: one plugin does each.
func (d *demo) jobs(ctx context.Context, n int) error {
	fmt.Fprintf(d.out, "%d jobs, spread over the queue group \"workers\" (each done by one plugin):\n", n)
	for i := 1; i <= n; i++ {
		job := fmt.Sprintf("photo-%02d.jpg", i)
		if _, err := d.bus.Publish(ctx, &bus.Message{Subject: "jobs.resize", Data: []byte(job)}); err != nil {
			return err
		}
	}
	doneBy := map[string][]string{}
	perPlugin := map[string]int{}
	for range n {
		name, job, err := d.report(ctx, "done")
		if err != nil {
			return err
		}
		doneBy[string(job)] = append(doneBy[string(job)], name)
		perPlugin[name]++
	}
	for _, job := range slices.Sorted(maps.Keys(doneBy)) {
		fmt.Fprintf(d.out, "  %s done by %s\n", job, strings.Join(doneBy[job], ", "))
		if len(doneBy[job]) != 1 {
			return fmt.Errorf("%s done %d times", job, len(doneBy[job]))
		}
	}
	if len(doneBy) != n {
		return fmt.Errorf("%d jobs done of %d", len(doneBy), n)
	}
	var counts []string
	for _, name := range plugins {
		counts = append(counts, fmt.Sprintf("%s %d", name, perPlugin[name]))
	}
	fmt.Fprintf(d.out, "  every job done once: %s\n", strings.Join(counts, ", "))
	return nil
}

// frame broadcasts a frame of size bytes sealed: one copy in all.
func (d *demo) frame(ctx context.Context, size int) error {
	img := make([]byte, size)
	for i := 0; i < len(img); i += 4 { // an RGBA gradient
		img[i], img[i+1], img[i+2], img[i+3] = byte(i>>2), byte(i>>10), byte(i>>18), 0xff
	}
	want := crc32.ChecksumIEEE(img)
	linked0 := d.copied()
	t0 := time.Now()
	// The one copy: into a sealed memfd that every plugin maps.
	m, err := buslink.Sealed(img)
	if err != nil {
		return err
	}
	tSeal := time.Since(t0)
	sealed := 0
	if m.Payload != nil {
		sealed = size
	}
	m.Subject = "frame.camera"
	t1 := time.Now()
	if _, err := d.bus.Publish(ctx, m); err != nil {
		return err
	}
	for range plugins {
		name, rep, err := d.report(ctx, "frame")
		if err != nil {
			return err
		}
		if len(rep) != 12 || binary.BigEndian.Uint32(rep) != want || binary.BigEndian.Uint64(rep[4:]) != uint64(size) {
			return fmt.Errorf("%s read another frame", name)
		}
	}
	tAll := time.Since(t1)
	linked := d.copied() - linked0
	fmt.Fprintf(d.out, "a %d MiB frame broadcast to %d plugins (sealed once, read in place by each):\n", size>>20, len(plugins))
	fmt.Fprintf(d.out, "  seal (the one copy): %v\n", tSeal.Round(time.Microsecond))
	fmt.Fprintf(d.out, "  publish until every plugin had read it whole (crc32 checked): %v\n", tAll.Round(time.Microsecond))
	fmt.Fprintf(d.out, "  bytes copied: %d (the seal %d; the host's links %d, small records only)\n", int64(sealed)+linked, sealed, linked)
	return nil
}

// copied is the bytes the host's ends of the links copied into link
// memory so far (transport statistics).
func (d *demo) copied() int64 {
	var n int64
	for _, c := range d.clients {
		if sm := c.Stats().SharedMemory; sm != nil {
			n += sm.Blobs.Copied
		}
	}
	return n
}

// close stops the plugins; it is idempotent.
func (d *demo) close() error {
	var errs []error
	for _, c := range d.clients {
		errs = append(errs, c.Close())
	}
	d.clients = nil
	return errors.Join(errs...)
}
