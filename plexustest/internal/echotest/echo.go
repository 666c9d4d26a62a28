package echotest

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Echo is served by the plugin's end.
//
//plexus:service
type Echo interface {
	// Echo returns text.
	Echo(ctx context.Context, text string) (string, error)
	// Shout returns text in capitals, which it asks the caller's side
	// for: a call back to the host's Case service over the same link.
	Shout(ctx context.Context, text string) (string, error)
}

// Case is served by the host's end, for Echo's callbacks.
//
//plexus:service
type Case interface {
	Upper(ctx context.Context, text string) (string, error)
}
