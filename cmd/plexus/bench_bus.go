//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The publish/subscribe figures: the bench holds a bus (package bus) and
// serves it to plugin processes over shared memory (bus/buslink on the
// host's services, host.Config.HostServices), as a user's host does; the
// plugins subscribe through buslink.Client and consume with Next and Done.
// Beside them, the Unix-socket baseline: 64-byte messages streamed to a
// child process that reads them (udsbench.Stream).

// The subjects of the bus phases. A plugin in busFan mode subscribes to
// fanSubject, busQueue to queueSubject in the group benchQueue, busBig to
// bigSubject; each reports on reportPrefix+its name: "ready" once
// subscribed, then what its mode reports.
const (
	busFan       = "fan"
	busQueue     = "queue"
	busBig       = "big"
	fanSubject   = "bench.fan"
	queueSubject = "bench.queue"
	benchQueue   = "bench"
	bigSubject   = "bench.big"
	reportPrefix = "bench.report."
	// busBuffer is the fan-out and queue subscribers' SubOptions.Buffer
	// (Block: the publisher waits for room, nothing is dropped).
	busBuffer = 4096
	// bigSize is the large message's size.
	bigSize = 16 << 20
)

// busKeys are the publish/subscribe figures.
var busKeys = []string{"bus_fanout1_msgs_per_sec", "bus_fanout4_msgs_per_sec", "bus_queue4_msgs_per_sec",
	"bus_16mib_fanout4_ms", "bus_16mib_fanout4_copied_bytes", "bus_16mib_seal_ms", "uds_stream_msgs_per_sec"}

func init() { Keys = append(Keys, busKeys...) }

// busRig is a bus served to n plugin processes of one mode, and the
// bench's subscription to their reports.
type busRig struct {
	bus     *bus.Bus
	plugins []*host.Client
	reports *bus.Subscription
}

// startBusRig starts n plugins in mode and waits until each has
// subscribed.
func startBusRig(ctx context.Context, mode string, n int) (_ *busRig, err error) {
	b, err := bus.New(bus.Config{})
	if err != nil {
		return nil, err
	}
	r := &busRig{bus: b}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.reports, err = b.Subscribe(ctx, reportPrefix+"*", bus.SubOptions{Buffer: 64}); err != nil {
		return nil, err
	}
	mux := session.NewMux()
	if err := buslink.Register(mux, b); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for i := range n {
		name := mode + strconv.Itoa(i)
		c, err := host.New(host.Config{
			Path: exe, Args: []string{"bench-plugin", "-transport=shm", "-bus=" + mode, "-name=" + name},
			Env: []string{pluginEnv + "=1"}, Name: "bench-" + name, Cookie: benchCookie,
			Versions:     map[uint32][]host.ServiceDesc{1: {benchService().Desc()}},
			HostServices: mux, Logger: hclog.NewNullLogger(), KeepaliveIdle: -1,
		})
		if err != nil {
			return nil, err
		}
		r.plugins = append(r.plugins, c)
		if err := c.Start(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	for range n {
		if _, err := r.next(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// next returns the data of the next report, or the error a plugin
// reported.
func (r *busRig) next(ctx context.Context) ([]byte, error) {
	d, err := r.reports.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for the plugins' reports: %w", err)
	}
	defer func() { _ = d.Done() }()
	if e := d.Header["error"]; e != "" {
		return nil, fmt.Errorf("%s: %s", d.Subject, e)
	}
	return slices.Clone(d.Data), nil
}

// copied is the bytes the bench's ends of the links copied (into slots
// and blobs) so far.
func (r *busRig) copied() int64 {
	var n int64
	for _, c := range r.plugins {
		if sm := c.Stats().SharedMemory; sm != nil {
			n += sm.Blobs.Copied
		}
	}
	return n
}

func (r *busRig) Close() {
	for _, c := range r.plugins {
		_ = c.Close()
	}
	r.bus.Close()
}

// fanOut publishes 64-byte messages to n fan subscribers for about d,
// then an end mark, after which each reports how many it consumed; it
// returns the messages consumed per second, in all, until the last
// report.
func fanOut(ctx context.Context, n int, d time.Duration) (float64, error) {
	r, err := startBusRig(ctx, busFan, n)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	data := make([]byte, udsbench.MsgSize)
	var sent uint64
	start := time.Now()
	deadline := start.Add(d)
	for sent%1024 != 0 || time.Now().Before(deadline) {
		if _, err := r.bus.Publish(ctx, &bus.Message{Subject: fanSubject, Data: data}); err != nil {
			return 0, fmt.Errorf("publish %d: %w", sent, err)
		}
		sent++
	}
	if _, err := r.bus.Publish(ctx, &bus.Message{Subject: fanSubject, Data: []byte("end")}); err != nil {
		return 0, err
	}
	for range n {
		rep, err := r.next(ctx)
		if err != nil {
			return 0, err
		}
		if len(rep) != 8 || binary.LittleEndian.Uint64(rep) != sent {
			return 0, fmt.Errorf("a subscriber consumed %x of %d messages", rep, sent)
		}
	}
	el := time.Since(start)
	return float64(sent) * float64(n) / el.Seconds(), nil
}

// releases counts the releases of the messages that share it as their
// Payload, and closes all once the count reaches the target set.
type releases struct {
	n, target atomic.Int64
	once      sync.Once
	all       chan struct{}
}

func (c *releases) Release() {
	if c.n.Add(1) == c.target.Load() {
		c.once.Do(func() { close(c.all) })
	}
}

// setTarget sets the count that closes all, and closes it if reached.
func (c *releases) setTarget(t int64) {
	c.target.Store(t)
	if c.n.Load() == t {
		c.once.Do(func() { close(c.all) })
	}
}

// queue publishes 64-byte messages to a queue group of n plugins for
// about d and returns the messages per second consumed and acknowledged:
// the bus releases a queue message's payload when its consumer's Done
// (the ack) reaches it.
func queue(ctx context.Context, n int, d time.Duration) (float64, error) {
	r, err := startBusRig(ctx, busQueue, n)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	rel := &releases{all: make(chan struct{})}
	rel.target.Store(-1)
	data := make([]byte, udsbench.MsgSize)
	var sent int64
	start := time.Now()
	deadline := start.Add(d)
	for sent%1024 != 0 || time.Now().Before(deadline) {
		if _, err := r.bus.Publish(ctx, &bus.Message{Subject: queueSubject, Data: data, Payload: rel}); err != nil {
			return 0, fmt.Errorf("publish %d: %w", sent, err)
		}
		sent++
	}
	rel.setTarget(sent)
	select {
	case <-rel.all:
	case <-ctx.Done():
		return 0, fmt.Errorf("%d of %d messages acknowledged", rel.n.Load(), sent)
	}
	el := time.Since(start)
	return float64(sent) / el.Seconds(), nil
}

// bigSample is what a big subscriber reads of a message and reports: its
// length, and the XOR of 64 words spread over it (one a 256 KiB stretch
// for 16 MiB), so that it has mapped and read every part.
func bigSample(p []byte) []byte {
	var x uint64
	if len(p) >= 8 {
		for i := range 64 {
			off := i * (len(p) - 8) / 63
			x ^= binary.LittleEndian.Uint64(p[off:])
		}
	}
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(len(p))), x)
}

// bigFanOut publishes a 16 MiB message sealed (buslink.Sealed) to 4
// plugins, rounds times after a warm-up round, and returns the median
// time from Publish until every plugin reported reading it, the median
// seal time, and the most bytes copied in a round: the seal's, and the
// bench's ends of the links'.
func bigFanOut(ctx context.Context, rounds int) (ms, sealMS, copied float64, err error) {
	const n = 4
	r, err := startBusRig(ctx, busBig, n)
	if err != nil {
		return 0, 0, 0, err
	}
	defer r.Close()
	data := make([]byte, bigSize)
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], uint64(i)*0x9E3779B97F4A7C15)
	}
	want := bigSample(data)
	var times, seals []time.Duration
	for i := range max(rounds, 1) + 1 {
		c0 := r.copied()
		t0 := time.Now()
		m, err := buslink.Sealed(data)
		if err != nil {
			return 0, 0, 0, err
		}
		t1 := time.Now()
		m.Subject = bigSubject
		if _, err := r.bus.Publish(ctx, m); err != nil {
			return 0, 0, 0, err
		}
		for range n {
			rep, err := r.next(ctx)
			if err != nil {
				return 0, 0, 0, err
			}
			if !slices.Equal(rep, want) {
				return 0, 0, 0, errors.New("a plugin read other bytes than those published")
			}
		}
		el := time.Since(t1)
		c := float64(r.copied() - c0)
		if m.Payload != nil { // sealed: the seal's copy
			c += bigSize
		}
		if i == 0 {
			continue // the warm-up: the plugins map the seal's pages once
		}
		times, seals = append(times, el), append(seals, t1.Sub(t0))
		copied = max(copied, c)
	}
	ms = float64(udsbench.Percentile(times, 50)) / float64(time.Millisecond)
	sealMS = float64(udsbench.Percentile(seals, 50)) / float64(time.Millisecond)
	return ms, sealMS, copied, nil
}

// udsStream is the baseline of the rates: 64-byte messages streamed to a
// child process for about d.
func udsStream(d time.Duration) (float64, error) {
	p, err := udsbench.StartSink()
	if err != nil {
		return 0, err
	}
	rate, err := udsbench.Stream(p.Conn, d)
	return rate, errors.Join(err, p.Close())
}

// busSteps are the publish/subscribe phases.
func busSteps(cfg benchConfig, r map[string]float64) []benchStep {
	return []benchStep{
		{"uds stream", func(context.Context) (err error) {
			r["uds_stream_msgs_per_sec"], err = udsStream(cfg.StreamDur)
			return err
		}},
		{"bus fan-out to 1", func(ctx context.Context) (err error) {
			r["bus_fanout1_msgs_per_sec"], err = fanOut(ctx, 1, cfg.StreamDur)
			return err
		}},
		{"bus fan-out to 4", func(ctx context.Context) (err error) {
			r["bus_fanout4_msgs_per_sec"], err = fanOut(ctx, 4, cfg.StreamDur)
			return err
		}},
		{"bus queue group of 4", func(ctx context.Context) (err error) {
			r["bus_queue4_msgs_per_sec"], err = queue(ctx, 4, cfg.StreamDur)
			return err
		}},
		{"bus 16 MiB to 4", func(ctx context.Context) (err error) {
			r["bus_16mib_fanout4_ms"], r["bus_16mib_seal_ms"], r["bus_16mib_fanout4_copied_bytes"], err = bigFanOut(ctx, cfg.BigRounds)
			return err
		}},
	}
}

// busTargets are the publish/subscribe targets.
func busTargets() []target {
	return []target{
		{"bus_fanout1_msgs_per_sec", "bus msgs/s to 1 plugin (64 B)", ">= 5,000,000", "consumed: Next+Done",
			func(v float64, _ map[string]float64) bool { return v >= 5e6 }},
		{"bus_fanout4_msgs_per_sec", "bus msgs/s to 4 plugins (64 B)", "-", "fan-out, delivered in all", nil},
		{"bus_queue4_msgs_per_sec", "bus msgs/s, queue group of 4", "-", "consumed and acknowledged", nil},
		{"uds_stream_msgs_per_sec", "UDS stream msgs/s (64 B)", "-", "(baseline: a write each)", nil},
		{"bus_16mib_fanout4_ms", "bus 16 MiB to 4 plugins (ms)", "< 2", "Publish to all four read it",
			func(v float64, _ map[string]float64) bool { return v < 2 }},
		{"bus_16mib_seal_ms", "bus 16 MiB seal (ms)", "-", "buslink.Sealed: the one copy", nil},
		{"bus_16mib_fanout4_copied_bytes", "bus 16 MiB to 4: bytes copied", "<= 1 copy", "seal + links' small records",
			func(v float64, _ map[string]float64) bool { return v <= bigSize+buslink.LargeData }},
	}
}

// busPlugin is a bench plugin in a bus mode: it serves the bench
// service, subscribes to the bus of its host through the link and
// consumes (busConsume).
func busPlugin(mode, name string) error {
	return plugin.Run(plugin.ServeConfig{Cookie: benchCookie,
		Versions:     map[uint32][]plugin.Service{1: {benchService()}},
		HostServices: map[uint32][]plugin.ServiceDesc{1: {buslink.ServiceDesc}},
		Logger:       hclog.NewNullLogger(),
		OnLink: func(h session.Conn, _ uint32) {
			// Not in OnLink, which must not wait for a call of the host.
			go busConsume(buslink.NewClient(h), mode, name)
		}})
}

// busConsume subscribes in mode, says "ready", and consumes: a fan
// subscriber counts the 64-byte messages and reports the count at each
// end mark; a big one reports bigSample of each message; a queue member
// only takes and acknowledges.
func busConsume(c *buslink.Client, mode, name string) {
	ctx := context.Background()
	report := func(data []byte, err error) error {
		m := &bus.Message{Subject: reportPrefix + name, Data: data}
		if err != nil {
			m.Header = plexus.Metadata{"error": err.Error()}
		}
		_, err = c.Publish(ctx, m)
		return err
	}
	subject, opts := fanSubject, bus.SubOptions{Buffer: busBuffer}
	switch mode {
	case busQueue:
		subject, opts.Queue = queueSubject, benchQueue
	case busBig:
		subject, opts.Buffer = bigSubject, 4
	}
	s, err := c.Subscribe(ctx, subject, opts)
	if err != nil || report([]byte("ready"), nil) != nil {
		_ = report(nil, err)
		return
	}
	var n uint64
	for {
		d, err := s.Next(ctx)
		if err != nil {
			return
		}
		var rep []byte
		switch {
		case mode == busBig:
			rep = bigSample(d.Data)
		case mode == busFan && len(d.Data) != udsbench.MsgSize:
			rep, n = binary.LittleEndian.AppendUint64(nil, n), 0
		default:
			n++
		}
		if d.Done() != nil || (rep != nil && report(rep, nil) != nil) {
			return
		}
	}
}
