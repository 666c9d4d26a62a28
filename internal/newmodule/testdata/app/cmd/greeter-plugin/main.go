// Command greeter-plugin serves greeter.Greeter to the host that starts it.
package main

import (
	"context"

	"example.com/app/greeter"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

type impl struct{}

func (impl) Greet(_ context.Context, name string) (string, error) { return "Hello, " + name + "!", nil }

func main() {
	plugin.Serve(plugin.ServeConfig{Cookie: "greeter-v1", Versions: map[uint32][]plugin.Service{
		1: {plugin.Generated(greeter.GreeterServiceDesc, func(m *session.Mux) error {
			return greeter.RegisterGreeter(m, impl{})
		})},
	}})
}
