package calc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/plexus-ipc/plexus/demos/calculator/calc"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// divider implements calc.Calculator's Add and Div; the embedded
// interface stands for the methods this example does not call.
type divider struct{ calc.Calculator }

func (divider) Add(_ context.Context, a, b float64) (float64, error) { return a + b, nil }

func (divider) Div(_ context.Context, a, b float64) (float64, error) {
	if b == 0 {
		return 0, &calc.DivisionByZeroError{Dividend: a}
	}
	return a / b, nil
}

// The generated client and server of calc.Calculator over an in-process
// link; over shared memory (a host's plugin client) or a socket, only
// the session.Conn changes.
func ExampleNewCalculatorClient() {
	ctx := context.Background()
	mux := session.NewMux()
	if err := calc.RegisterCalculator(mux, divider{}); err != nil {
		fmt.Println(err)
		return
	}
	a, b := inproc.Pipe(inproc.Config{})
	server := session.New(b, session.Config{Role: session.Acceptor, Mux: mux})
	defer server.Close()
	conn := session.New(a, session.Config{Role: session.Initiator})
	defer conn.Close()

	c := calc.NewCalculatorClient(conn)
	sum, err := c.Add(ctx, 2, 3)
	fmt.Println(sum, err)

	// The handler's typed error comes back as the same Go type.
	_, err = c.Div(ctx, 1, 0)
	var dz *calc.DivisionByZeroError
	fmt.Println(errors.As(err, &dz), dz.Dividend, err)
	// Output:
	// 5 <nil>
	// true 1 division of 1 by zero
}
