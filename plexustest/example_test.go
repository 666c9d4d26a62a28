package plexustest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/plexus-ipc/plexus/plexustest"
	"github.com/plexus-ipc/plexus/plexustest/internal/echotest"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// echo is the implementation under test, served by the plugin's end.
type echo struct{}

func (echo) Echo(_ context.Context, text string) (string, error) { return text, nil }

func (echo) Shout(ctx context.Context, text string) (string, error) {
	// The caller's side serves Case on the same link: call it back
	// through the session this call came on.
	return echotest.NewCaseClient(session.FromContext(ctx)).Upper(ctx, text+"!")
}

// upper serves Case on the host's end, for Shout's callback.
type upper struct{}

func (upper) Upper(_ context.Context, text string) (string, error) { return strings.ToUpper(text), nil }

// In a test: serve the implementation in-process and call it through its
// generated client. The link is closed when the test ends. (Not run here:
// an example has no *testing.T.)
func ExamplePair() {
	var t *testing.T // the test's: func TestEcho(t *testing.T) { ... }

	conn := plexustest.Pair(t, echotest.NewEchoService(echo{}))
	got, err := echotest.NewEchoClient(conn).Echo(context.Background(), "hello")
	if err != nil || got != "hello" {
		t.Fatalf("Echo = %q, %v", got, err)
	}
}

// Start is the form without a testing.TB (TestMain, an example): the
// caller closes the link. HostServices are served by the host's end, for
// the plugin's callbacks.
func ExampleStart() {
	link, err := plexustest.Start(plexustest.Config{
		Services:     []plugin.Service{echotest.NewEchoService(echo{})},
		HostServices: []plugin.Service{echotest.NewCaseService(upper{})},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer link.Close()

	client := echotest.NewEchoClient(link.Host)
	ctx := context.Background()
	fmt.Println(client.Echo(ctx, "hello"))
	fmt.Println(client.Shout(ctx, "hello"))
	// Output:
	// hello <nil>
	// HELLO! <nil>
}

// A plugin whose handlers call the host through a client that its OnLink
// stores: Connect runs OnLink before any handler, as plugin.Run does, so a
// plugin's ServeConfig can be tested as it is. (Not run here: an example
// has no *testing.T.)
func ExampleConnect() {
	var t *testing.T // the test's

	impl := &viaOnLink{}
	link := plexustest.Connect(t, plexustest.Config{
		Services:     []plugin.Service{echotest.NewEchoService(impl)},
		HostServices: []plugin.Service{echotest.NewCaseService(upper{})},
		OnLink: func(host session.Conn, _ uint32) {
			impl.host = echotest.NewCaseClient(host)
		},
	})
	got, err := echotest.NewEchoClient(link.Host).Shout(context.Background(), "hi")
	if err != nil || got != "HI!" {
		t.Fatalf("Shout = %q, %v", got, err)
	}
}

// viaOnLink is an Echo that calls the host through the client its OnLink
// stored, as plugins whose ServeConfig has an OnLink do.
type viaOnLink struct {
	host *echotest.CaseClient // set by OnLink, before any call
}

func (v *viaOnLink) Echo(_ context.Context, text string) (string, error) { return text, nil }

func (v *viaOnLink) Shout(ctx context.Context, text string) (string, error) {
	return v.host.Upper(ctx, text+"!")
}
