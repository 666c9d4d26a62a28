package render

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Renderer renders text/template templates in the plugin.
//
//plexus:service
type Renderer interface {
	// Render executes the template. Its functions value and list ask
	// the host for data (Values) while the template runs.
	Render(ctx context.Context, name, text string) (string, error)
}

// Values is the host's data, which the plugin calls back into.
//
//plexus:service
type Values interface {
	// Value returns the value of key; an unknown key is NOT_FOUND.
	Value(ctx context.Context, key string) (string, error)
	// List returns the list called key; an unknown key is NOT_FOUND.
	List(ctx context.Context, key string) ([]string, error)
}
