package calc

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Calculator has one method of each calling shape.
//
//plexus:service
type Calculator interface {
	// Add is a unary call.
	Add(ctx context.Context, a, b float64) (float64, error)
	// Div is a unary call that fails with *DivisionByZeroError when b is 0.
	//
	//plexus:errors DivisionByZeroError
	Div(ctx context.Context, a, b float64) (float64, error)
	// Fibonacci streams the first n Fibonacci numbers to the caller
	// (server streaming).
	Fibonacci(ctx context.Context, n int, send func(uint64) error) error
	// Sum adds the numbers the caller streams (client streaming) and says
	// how many there were.
	Sum(ctx context.Context, recv func() (float64, error)) (total float64, count int, err error)
	// Running answers each number the caller streams with the running
	// total so far (bidirectional streaming).
	Running(ctx context.Context, recv func() (float64, error), send func(float64) error) error
}
