package fragile

import (
	"context"
	"time"
)

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Fragile is a service whose process can be made to crash.
//
//plexus:service
type Fragile interface {
	// Work takes d and returns the serving process's ID.
	Work(ctx context.Context, d time.Duration) (pid int, err error)
	// InFlight says how many Work calls are running.
	InFlight(ctx context.Context) (int, error)
	// Crash makes the plugin process panic. It is a notification: there
	// is nobody left to answer it.
	//
	//plexus:notify
	Crash(ctx context.Context, why string) error
}
