package plugin

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/gen/shapetest"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// adder implements shapetest.Shapes' Add; the embedded nil interface
// stands for the methods this test does not call.
type adder struct{ shapetest.Shapes }

func (adder) Add(_ context.Context, a, b int64) (int64, error) { return a + b, nil }

func generatedShapes() Service {
	return Generated(shapetest.ShapesServiceDesc, func(m *session.Mux) error {
		return shapetest.RegisterShapes(m, adder{})
	})
}

func TestGeneratedServesCalls(t *testing.T) {
	mux := session.NewMux()
	require.NoError(t, register(mux, []Service{generatedShapes()}))
	a, b := inproc.Pipe(inproc.Config{})
	caller := session.New(a, session.Config{Role: session.Initiator})
	server := session.New(b, session.Config{Role: session.Acceptor, Mux: mux})
	defer server.Close()
	defer caller.Close()
	sum, err := shapetest.NewShapesClient(caller).Add(context.Background(), 40, 2)
	require.NoError(t, err)
	require.Equal(t, int64(42), sum)
}

func TestGeneratedMisuse(t *testing.T) {
	reg := func(*session.Mux) error { return nil }
	desc := plexus.ServiceDesc{Name: "a.B"}
	cases := map[string]Service{
		"no Description":             {Name: "a.B", Register: reg},
		"no Register":                {Name: "a.B", Description: &desc},
		"both Methods and":           {Name: "a.B", Description: &desc, Register: reg, Methods: []Method{{Name: "C"}}},
		"has the Description of a.B": {Name: "x.Y", Description: &desc, Register: reg},
		"registering a.B: plexus: ALREADY_EXISTS: twice over": {Name: "a.B", Description: &desc, Register: func(m *session.Mux) error { return errTwice }},
	}
	for want, s := range cases {
		err := register(session.NewMux(), []Service{s})
		require.ErrorContains(t, err, want)
	}
	require.NoError(t, register(session.NewMux(), []Service{Generated(desc, reg)}))
}

var errTwice = plexus.Errorf(plexus.AlreadyExists, "twice over")
