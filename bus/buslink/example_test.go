package buslink_test

import (
	"context"
	"fmt"

	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// The host serves its bus on the Mux its plugins call (in a host,
// host.Config.HostServices); a plugin subscribes and publishes through a
// Client over its session to the host (plugin.ServeConfig.OnLink).
func Example() {
	b, _ := bus.New(bus.Config{})
	defer b.Close()
	mux := session.NewMux()
	if err := buslink.Register(mux, b); err != nil {
		panic(err)
	}
	ht, pt := inproc.Pipe(inproc.Config{})
	hostSide := session.New(ht, session.Config{Role: session.Initiator, Mux: mux, KeepaliveIdle: -1})
	defer hostSide.Close()
	pluginSide := session.New(pt, session.Config{Role: session.Acceptor, KeepaliveIdle: -1})
	defer pluginSide.Close()

	ctx := context.Background()
	c := buslink.NewClient(pluginSide)
	sub, err := c.Subscribe(ctx, "sensor.*.temp", bus.SubOptions{})
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe()

	// The host publishes on its bus directly.
	res, _ := b.Publish(ctx, &bus.Message{Subject: "sensor.kitchen.temp", Data: []byte("21.5")})
	fmt.Println("delivered to", res.Delivered)

	d, err := sub.Next(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Subject, string(d.Data))
	_ = d.Done()
	// Output:
	// delivered to 1
	// sensor.kitchen.temp 21.5
}
