package plugin_test

import (
	"context"

	"github.com/plexus-ipc/plexus/demos/quickstart/greeter"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

type greeterImpl struct{}

func (greeterImpl) Greet(_ context.Context, name string) (string, error) {
	return "Hello, " + name + "!", nil
}

// The main function of a plugin: serve the generated service
// greeter.Greeter, implemented by greeterImpl, until the host closes the
// link. Started by hand, the program says it is a plugin and exits with
// ExitNotPlugin. (Not run here: Serve exits the process.)
func ExampleServe() {
	plugin.Serve(plugin.ServeConfig{
		Cookie: "quickstart", // must equal the host's
		Versions: map[uint32][]plugin.Service{
			1: {greeter.NewGreeterService(greeterImpl{})},
		},
		// Optional: the session to the host, to call the services the
		// host serves (host.Config.HostServices) from the plugin.
		OnLink: func(host session.Conn, version uint32) {},
	})
}
