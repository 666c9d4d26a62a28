//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/demos/pyfilter/filter"
	"github.com/plexus-ipc/plexus/host"
)

const pythonExe = "/usr/bin/python3"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pyfilter:", err)
		os.Exit(1)
	}
}

// here is this source file's directory: plugin.py and filter/ are in it,
// python/ two levels up.
func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// PluginConfig is the host's configuration of the Python plugin.
func PluginConfig(logger hclog.Logger) host.Config {
	dir := here()
	return host.Config{
		Path: pythonExe, Args: []string{filepath.Join(dir, "plugin.py")},
		Env:  []string{"PYTHONPATH=" + filepath.Join(dir, "..", "..", "python") + ":" + filepath.Join(dir, "filter"), "PYTHONDONTWRITEBYTECODE=1"},
		Link: host.LinkSharedMemory, Name: "pyfilter", Cookie: "plexus-pyfilter",
		Versions: map[uint32][]host.ServiceDesc{1: {filter.FilterServiceDesc}},
		Logger:   logger, StartTimeout: 20 * time.Second, GracePeriod: 2 * time.Second,
	}
}

type options struct {
	op   string
	w, h int
	rows int
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("pyfilter", flag.ContinueOnError)
	size := fs.String("size", "640x480", "image size, WIDTHxHEIGHT")
	fs.StringVar(&o.op, "op", "blur", "operation: invert, grayscale or blur")
	fs.IntVar(&o.rows, "tile", 64, "rows per tile of the streams")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if _, err := fmt.Sscanf(*size, "%dx%d", &o.w, &o.h); err != nil || o.w < 1 || o.h < 1 || o.w > 8192 || o.h > 8192 {
		return o, fmt.Errorf("-size %q: want WIDTHxHEIGHT, each 1..8192", *size)
	}
	if o.rows < 1 {
		return o, fmt.Errorf("-tile %d: want at least 1", o.rows)
	}
	if _, err := os.Stat(pythonExe); err != nil {
		return o, fmt.Errorf("%s is missing: run python/install-deps.sh", pythonExe)
	}
	if err := exec.Command(pythonExe, "-c", "import msgpack").Run(); err != nil {
		return o, errors.New("python3 cannot import msgpack: run python/install-deps.sh")
	}
	return o, nil
}

func run(ctx context.Context, out io.Writer, args []string) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	w, h, op, rows := o.w, o.h, &o.op, &o.rows
	numpy := "numpy"
	if exec.Command(pythonExe, "-c", "import numpy").Run() != nil {
		numpy = "pure Python (no numpy: run python/install-deps.sh)"
	}
	t := time.Now()
	c, err := host.New(PluginConfig(hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr, Level: hclog.Warn})))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "python plugin started (pid %d, %s) in %v; image %dx%d RGBA (%s), %s\n",
		c.Pid(), numpy, round(time.Since(t)), w, h, mib(w*h*4), *op)
	d := &demo{ctx: ctx, out: out, f: filter.NewFilterClient(c), op: *op, w: w, h: h, rows: *rows, img: draw(w, h)}
	for _, step := range []func() error{d.unary, d.progress, d.tiles, d.bidi, d.note} {
		if err := step(); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "closed the plugin: ok")
	return nil
}

type demo struct {
	ctx        context.Context
	out        io.Writer
	f          *filter.FilterClient
	op         string
	w, h, rows int
	img        []byte
}

// draw is a test picture: gradients and a checkerboard.
func draw(w, h int) []byte {
	b := make([]byte, w*h*4)
	for y := range h {
		for x := range w {
			i := (y*w + x) * 4
			b[i], b[i+1], b[i+2], b[i+3] = byte(x*255/max(w-1, 1)), byte(y*255/max(h-1, 1)), byte(((x/16)^(y/16))&1*200), 255
		}
	}
	return b
}

func (d *demo) unary() error {
	want, err := filter.Apply(d.op, d.w, d.h, d.img)
	if err != nil {
		return err
	}
	t := time.Now()
	got, err := d.f.Apply(d.ctx, d.op, d.w, d.h, d.img)
	if err != nil {
		return fmt.Errorf("call Apply: %w", err)
	}
	el := time.Since(t)
	if filter.Checksum(got) != filter.Checksum(want) || len(got) != len(want) {
		return errors.New("call Apply: the plugin's image differs from Go's")
	}
	fmt.Fprintf(d.out, "unary Apply: %s filtered in %v, same as Go's (checksum %016x)\n", mib(len(got)), round(el), filter.Checksum(got))
	t = time.Now()
	sum, err := d.f.Checksum(d.ctx, d.img)
	if err != nil || sum != filter.Checksum(d.img) {
		return fmt.Errorf("call Checksum: %x, %v", sum, err)
	}
	fmt.Fprintf(d.out, "unary Checksum: %s read in place in %v\n", mib(len(d.img)), round(time.Since(t)))
	return nil
}

func (d *demo) progress() error {
	want, _ := filter.Apply(d.op, d.w, d.h, d.img)
	t := time.Now()
	var msgs []uint64
	err := d.f.Progress(d.ctx, d.op, d.w, d.h, d.img, func(p uint64) error { msgs = append(msgs, p); return nil })
	if err != nil {
		return fmt.Errorf("call Progress: %w", err)
	}
	if len(msgs) != 11 || msgs[10] != filter.Checksum(want) {
		return fmt.Errorf("call Progress: messages %v", msgs)
	}
	fmt.Fprintf(d.out, "server stream Progress: %d%% .. %d%% in %d messages, then the checksum, in %v\n", msgs[0], msgs[9], 10, round(time.Since(t)))
	return nil
}

// tileList cuts the image into tiles of d.rows rows.
func (d *demo) tileList() [][]byte {
	var ts [][]byte
	for y := 0; y < d.h; y += d.rows {
		n := min(d.rows, d.h-y)
		t := binary.LittleEndian.AppendUint32(nil, uint32(y))
		ts = append(ts, append(t, d.img[y*d.w*4:(y+n)*d.w*4]...))
	}
	return ts
}

func (d *demo) tiles() error {
	ts := d.tileList()
	wantN, wantSum, err := filter.Impl{}.Tiles(d.ctx, d.op, d.w, source(ts))
	if err != nil {
		return err
	}
	t := time.Now()
	n, sum, err := d.f.Tiles(d.ctx, d.op, d.w, source(ts))
	if err != nil {
		return fmt.Errorf("call Tiles: %w", err)
	}
	if n != wantN || sum != wantSum {
		return fmt.Errorf("call Tiles: %d tiles, sum %x; Go: %d, %x", n, sum, wantN, wantSum)
	}
	fmt.Fprintf(d.out, "client stream Tiles: %d tiles of %d rows filtered in place in %v, same as Go's\n", n, d.rows, round(time.Since(t)))
	return nil
}

func source(ts [][]byte) func() ([]byte, error) {
	i := 0
	return func() ([]byte, error) {
		if i == len(ts) {
			return nil, io.EOF
		}
		i++
		return ts[i-1], nil
	}
}

func (d *demo) bidi() error {
	ts := d.tileList()
	t := time.Now()
	n := 0
	err := d.f.Stream(d.ctx, d.op, d.w, source(ts), func(b []byte) error {
		want, err := filter.FilterTile(d.op, d.w, ts[n])
		if err != nil {
			return err
		}
		if string(b) != string(want) {
			return fmt.Errorf("tile %d differs from Go's", n)
		}
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("call Stream: %w", err)
	}
	if n != len(ts) {
		return fmt.Errorf("call Stream: %d tiles back of %d", n, len(ts))
	}
	fmt.Fprintf(d.out, "bidi stream Stream: %d tiles sent and %d filtered tiles back in %v, same as Go's\n", len(ts), n, round(time.Since(t)))
	// Round trips of the smallest call.
	const calls = 200
	t = time.Now()
	for i := range calls {
		if s, err := d.f.Add(d.ctx, int64(i), 1); err != nil || s != int64(i)+1 {
			return fmt.Errorf("call Add: %d, %v", s, err)
		}
	}
	fmt.Fprintf(d.out, "unary Add: %d calls, %v a call\n", calls, round(time.Since(t)/calls))
	return nil
}

func (d *demo) note() error {
	if err := d.f.Note(d.ctx, "done with "+d.op); err != nil {
		return fmt.Errorf("call Note: %w", err)
	}
	fmt.Fprintln(d.out, "notification Note: sent")
	return nil
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(100 * time.Nanosecond)
}
