// Command echoplugin is the smallest plexus plugin: one Echo method. The
// host package's benchmarks build it to measure start to first call
// without a test binary's start-up cost.
package main

import (
	"context"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/plugin"
)

func main() {
	plugin.Serve(plugin.ServeConfig{
		Cookie: "plexus-echo",
		Versions: map[uint32][]plugin.Service{1: {{Name: "bench.Echo", Methods: []plugin.Method{{
			Name: "Echo", Signature: 1,
			Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) { return plexus.Raw(req), nil },
		}}}}},
	})
}
