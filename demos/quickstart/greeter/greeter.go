// Package greeter is the README's example service; greeter_plexus.go is
// generated from it by `plexus gen`.
package greeter

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Greeter greets.
//
//plexus:service
type Greeter interface {
	Greet(ctx context.Context, name string) (string, error)
}
