// Command greeter-plugin serves greeter.Greeter to the host that starts it.
package main

import (
	"context"

	"example.com/app/greeter"
	"github.com/plexus-ipc/plexus/plugin"
)

type impl struct{}

func (impl) Greet(_ context.Context, name string) (string, error) { return "Hello, " + name + "!", nil }

func main() {
	plugin.Serve(plugin.ServeConfig{Cookie: "greeter-v1", Versions: map[uint32][]plugin.Service{
		1: {greeter.NewGreeterService(impl{})},
	}})
}
