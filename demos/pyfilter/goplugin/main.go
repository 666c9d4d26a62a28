// Command goplugin serves the pyfilter demo's Filter in Go: the Go plugin
// that host/python_bench_linux_test.go measures beside the Python one.
package main

import (
	"github.com/plexus-ipc/plexus/demos/pyfilter/filter"
	"github.com/plexus-ipc/plexus/plugin"
)

func main() {
	plugin.Serve(plugin.ServeConfig{
		Cookie:   "plexus-pyfilter",
		Versions: map[uint32][]plugin.Service{1: {filter.NewFilterService(filter.Impl{})}},
	})
}
