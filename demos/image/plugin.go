//go:build linux

package main

import (
	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/plugin"
)

func pluginConfig() plugin.ServeConfig {
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {imgproc.NewProcessorService(imgproc.Server{})},
		},
	}
}
