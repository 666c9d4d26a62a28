// Package greeter is the service the host and the plugin share.
package greeter

import "context"

//go:generate go tool plexus gen

// Greeter greets.
//
//plexus:service
type Greeter interface {
	Greet(ctx context.Context, name string) (string, error)
}
