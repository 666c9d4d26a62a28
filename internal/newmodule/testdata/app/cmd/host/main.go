// Command host starts the plugin binary named by its argument and greets
// through it.
package main

import (
	"context"
	"fmt"
	"os"

	"example.com/app/greeter"
	"github.com/plexus-ipc/plexus/host"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: host <plugin binary>")
		os.Exit(2)
	}
	ctx := context.Background()
	client, err := host.New(host.Config{Path: os.Args[1], Cookie: "greeter-v1",
		Versions: map[uint32][]host.ServiceDesc{1: {greeter.GreeterServiceDesc}}})
	if err == nil {
		err = client.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	defer client.Close()
	msg, err := greeter.NewGreeterClient(client).Greet(ctx, "newcomer")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Println(msg)
}
