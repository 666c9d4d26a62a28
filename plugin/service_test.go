package plugin

import (
	"context"
	"testing"
	"time"

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

// TestNewServiceServesCalls: the one-call form generated code offers,
// shapetest.NewShapesService(impl), is a Service as it is (no *session.Mux
// in sight) and serves the implementation's methods, alone or beside
// another generated service of the same package.
func TestNewServiceServesCalls(t *testing.T) {
	mux, err := NewMux(shapetest.NewShapesService(adder{}), shapetest.NewOtherService(uptimer{}))
	require.NoError(t, err)
	a, b := inproc.Pipe(inproc.Config{})
	caller := session.New(a, session.Config{Role: session.Initiator})
	server := session.New(b, session.Config{Role: session.Acceptor, Mux: mux})
	defer server.Close()
	defer caller.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sum, err := shapetest.NewShapesClient(caller).Add(ctx, 40, 2)
	require.NoError(t, err)
	require.Equal(t, int64(42), sum)
	up, err := shapetest.NewOtherClient(caller).Uptime(ctx)
	require.NoError(t, err)
	require.Equal(t, 90*time.Minute, up)
}

// TestNewMuxDescribes: a Mux built from generated services says what it
// serves with the generated signatures, so that it can be a host's
// HostServices checked at link time against what a plugin declares.
func TestNewMuxDescribes(t *testing.T) {
	mux, err := NewMux(shapetest.NewShapesService(adder{}))
	require.NoError(t, err)
	got := mux.Services()
	require.Len(t, got, 1)
	require.Equal(t, shapetest.ShapesServiceDesc.Name, got[0].Name)
	want := map[string]uint64{}
	for _, m := range shapetest.ShapesServiceDesc.Methods {
		want[m.Name] = m.Signature
	}
	require.Len(t, got[0].Methods, len(want))
	for _, m := range got[0].Methods {
		require.NotZero(t, m.Signature, m.Name)
		require.Equal(t, want[m.Name], m.Signature, m.Name)
	}
}

// TestNewServiceIsGenerated: NewXService describes the service exactly as
// Generated(XServiceDesc, ...) does (the handshake sends the same
// methods and signatures), with a copy of the description.
func TestNewServiceIsGenerated(t *testing.T) {
	s := shapetest.NewShapesService(adder{})
	require.Equal(t, shapetest.ShapesService, s.Name)
	require.Equal(t, generatedShapes().Desc(), s.Desc())
	require.Equal(t, shapetest.ShapesServiceDesc, s.Desc())
	require.Empty(t, s.Methods)
	s.Description.Methods[0].Signature++
	require.NotEqual(t, shapetest.ShapesServiceDesc.Methods[0].Signature, s.Description.Methods[0].Signature,
		"the description is a copy: changing it leaves the generated variable alone")
}

// TestNewServiceNilImpl: a nil implementation fails when the services are
// registered (when the plugin starts), naming the service, not at the
// first call.
func TestNewServiceNilImpl(t *testing.T) {
	_, err := NewMux(shapetest.NewShapesService(nil))
	require.ErrorContains(t, err, "plugin: registering "+shapetest.ShapesService)
	require.ErrorContains(t, err, "shapetest.NewShapesService: the Shapes implementation is nil")
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
}

// TestNewMuxChecks: NewMux applies Run's checks.
func TestNewMuxChecks(t *testing.T) {
	_, err := NewMux(shapetest.NewShapesService(adder{}), shapetest.NewShapesService(adder{}))
	require.Error(t, err, "a service registered twice")
	_, err = NewMux(Service{Name: "a.B", Methods: []Method{{Name: "C"}}})
	require.ErrorContains(t, err, "exactly one handler, has 0")
}

// uptimer implements shapetest.Other.
type uptimer struct{}

func (uptimer) Uptime(context.Context) (time.Duration, error) { return 90 * time.Minute, nil }
