package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/plexus-ipc/plexus/demos/quickstart/greeter"
	"github.com/plexus-ipc/plexus/host"
)

// Start a plugin, call it through its generated client, close it. The
// plugin here is the quickstart demo's program, which serves
// greeter.Greeter when a host starts it.
func ExampleClient() {
	ctx := context.Background()
	client, err := host.New(host.Config{
		Path:   greeterPlugin(), // the plugin executable
		Cookie: "quickstart",    // must equal the plugin's
		// The services the plugin must serve, per version: each method's
		// signature hash is checked when the plugin starts.
		Versions: map[uint32][]host.ServiceDesc{1: {greeter.GreeterServiceDesc}},
		// Restart the plugin if it dies, up to 3 times in a row.
		Restart: host.RestartPolicy{MaxRestarts: 3},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := client.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	// The client implements session.Conn, so any generated client runs on
	// it, and keeps working across restarts of the plugin.
	msg, err := greeter.NewGreeterClient(client).Greet(ctx, "plexus")
	fmt.Println(msg, err)
	// Output: Hello, plexus! <nil>
}

var greeterBuild struct {
	once sync.Once
	path string
}

// greeterPlugin builds demos/quickstart once per test binary.
func greeterPlugin() string {
	greeterBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "plexus-quickstart-")
		if err != nil {
			panic(err)
		}
		buildDirs = append(buildDirs, dir)
		out := filepath.Join(dir, "quickstart")
		cmd := exec.Command("go", "build", "-o", out, "../demos/quickstart")
		if msg, err := cmd.CombinedOutput(); err != nil {
			panic(fmt.Sprintf("building the quickstart plugin: %v\n%s", err, msg))
		}
		greeterBuild.path = out
	})
	return greeterBuild.path
}
