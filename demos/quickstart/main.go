//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/plexus-ipc/plexus/demos/quickstart/greeter"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
)

type impl struct{}

func (impl) Greet(_ context.Context, name string) (string, error) { return "Hello, " + name + "!", nil }

func main() {
	if os.Getenv("PLEXUS_PLUGIN") != "" { // started by a host: be the plugin
		plugin.Serve(plugin.ServeConfig{Cookie: "quickstart", Versions: map[uint32][]plugin.Service{
			1: {greeter.NewGreeterService(impl{})},
		}})
	}
	if err := runHost(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func runHost(ctx context.Context, out io.Writer) error {
	exe, _ := os.Executable() // the plugin is this same program
	client, err := host.New(host.Config{Path: exe, Cookie: "quickstart",
		Versions: map[uint32][]host.ServiceDesc{1: {greeter.GreeterServiceDesc}}})
	if err == nil {
		err = client.Start(ctx) // spawn, link over shared memory, handshake
	}
	if err != nil {
		return err
	}
	defer client.Close()
	msg, err := greeter.NewGreeterClient(client).Greet(ctx, "world")
	fmt.Fprintln(out, msg)
	return err
}
