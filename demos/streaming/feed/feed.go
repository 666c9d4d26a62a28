package feed

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Feed has a stream of each direction and a way to watch the producer.
//
//plexus:service
type Feed interface {
	// Produce sends n messages of size bytes to the caller (server
	// streaming) and counts what it has sent under name.
	Produce(ctx context.Context, name string, n, size int, send func([]byte) error) error
	// Sent says how many messages Produce has sent under name so far: a
	// send that waits for the caller's flow-control credit is not counted
	// until it returns.
	Sent(ctx context.Context, name string) (int, error)
	// Consume reads what the caller streams (client streaming).
	Consume(ctx context.Context, recv func() ([]byte, error)) (n int, bytes int64, err error)
	// Echo sends back every message the caller streams (bidirectional).
	Echo(ctx context.Context, recv func() ([]byte, error), send func([]byte) error) error
}
