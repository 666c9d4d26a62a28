//go:build linux

package main

import (
	"context"
	"os"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/demos/crash/fragile"
	"github.com/plexus-ipc/plexus/plugin"
)

// server implements fragile.Fragile in the plugin process.
type server struct{ inFlight atomic.Int64 }

func (s *server) Work(ctx context.Context, d time.Duration) (int, error) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	select {
	case <-time.After(d):
		return os.Getpid(), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *server) InFlight(context.Context) (int, error) { return int(s.inFlight.Load()), nil }

func (s *server) Crash(_ context.Context, why string) error {
	// A panic on a goroutine of its own is not recovered by anyone: the
	// process dies as a buggy plugin would.
	go panic("crash requested: " + why)
	return nil
}

func pluginConfig() plugin.ServeConfig {
	impl := &server{}
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {fragile.NewFragileService(impl)},
		},
	}
}
