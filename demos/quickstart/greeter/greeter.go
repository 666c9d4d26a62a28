package greeter

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Greeter greets.
//
//plexus:service
type Greeter interface {
	Greet(ctx context.Context, name string) (string, error)
}
