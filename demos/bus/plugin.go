//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// nameEnv names a plugin: the host sets it for each one it starts.
const nameEnv = "BUSDEMO_NAME"

// service is the plugins' own service: the host expects one (Name says
// which plugin it is); the demo's traffic goes through the bus.
func service() plugin.Service {
	return plugin.Service{Name: "busdemo.Plugin", Methods: []plugin.Method{
		{Name: "Name", Signature: 1, Unary: func(context.Context, []byte) (plexus.Marshaler, error) {
			return plexus.Raw(os.Getenv(nameEnv)), nil
		}},
	}}
}

func pluginConfig() plugin.ServeConfig {
	return plugin.ServeConfig{
		Cookie:   cookie,
		Versions: map[uint32][]plugin.Service{1: {service()}},
		// The plugin calls the host's bus: declared, so that a host
		// serving another wire form is refused at link time.
		HostServices: map[uint32][]plugin.ServiceDesc{1: {buslink.ServiceDesc}},
		OnLink: func(h session.Conn, _ uint32) {
			// In a goroutine: OnLink must not wait for a call of the host.
			go subscribe(buslink.NewClient(h), os.Getenv(nameEnv))
		},
	}
}

// subscribe makes the plugin's three subscriptions, says it is ready,
// and consumes each on a goroutine of its own. Every report goes to the
// host's bus on "report.<kind>.<name>".
func subscribe(c *buslink.Client, name string) {
	ctx := context.Background()
	report := func(kind string, data []byte) error {
		_, err := c.Publish(ctx, &bus.Message{Subject: "report." + kind + "." + name, Data: data})
		return err
	}
	// Events: every plugin gets every one (fan-out).
	events, err := c.Subscribe(ctx, "doc.*.saved", bus.SubOptions{Buffer: 64})
	if err != nil {
		_ = report("error", []byte(err.Error()))
		return
	}
	// Jobs: one member of the group takes each; Done acknowledges it.
	jobs, err := c.Subscribe(ctx, "jobs.resize", bus.SubOptions{Queue: "workers", Buffer: 4})
	if err != nil {
		_ = report("error", []byte(err.Error()))
		return
	}
	// Frames: read in place, in the host's sealed memory, until Done.
	frames, err := c.Subscribe(ctx, "frame.>", bus.SubOptions{Buffer: 2})
	if err != nil {
		_ = report("error", []byte(err.Error()))
		return
	}
	go consume(ctx, events, func(d *buslink.Delivery) error { return report("seen", []byte(d.Subject)) })
	go consume(ctx, jobs, func(d *buslink.Delivery) error {
		// The job would resize the image it names; the demo reports it
		// done, and Consume then acknowledges it.
		return report("done", d.Data)
	})
	go consume(ctx, frames, func(d *buslink.Delivery) error {
		// Read the whole frame where it lies, and say what was read.
		rep := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(d.Data))
		return report("frame", binary.BigEndian.AppendUint64(rep, uint64(len(d.Data))))
	})
	_ = report("ready", nil)
}

// consume runs fn on each delivery of s, then marks it Done (for a queue
// member, the acknowledgement), until the subscription ends.
func consume(ctx context.Context, s *buslink.Subscription, fn func(*buslink.Delivery) error) {
	_ = s.Consume(ctx, fn)
}
