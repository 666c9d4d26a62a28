package natsbridge

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The test binary is also the host processes and their plugins of
// TestBridgeAcrossHostProcesses: NBTEST_MODE picks which.
const (
	modeEnv = "NBTEST_MODE"
	nameEnv = "NBTEST_NAME"
	natsEnv = "NBTEST_NATS"
	cookie  = "plexus-natsbridge-test"
	ctlName = "nbtest.Ctl"
)

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		os.Exit(m.Run())
	case "host":
		os.Exit(hostMain())
	case "plugin":
		pluginMain()
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv)
		os.Exit(97)
	}
}

// The routes of both host processes: events fanned out, commands and
// reports carried everywhere, jobs spread over one queue group that spans
// both hosts (delivered locally under "net.").
var (
	xpExports = []Route{{Pattern: "doc.>"}, {Pattern: "jobs.>"}, {Pattern: "ack.>"}}
	xpImports = []Route{{Pattern: "doc.>"}, {Pattern: "cmd.>"}, {Pattern: "jobs.>", Queue: "workers", Prefix: "net"}}
)

// hostMain is one host process: a bus served to its plugin (buslink),
// bridged to the NATS server at $NBTEST_NATS, and one plugin. It runs
// until it is killed or its standard input ends.
func hostMain() int {
	name := os.Getenv(nameEnv)
	log := hclog.New(&hclog.LoggerOptions{Name: "host-" + name, Output: os.Stderr, Level: hclog.Warn})
	b, err := bus.New(bus.Config{})
	if err != nil {
		return fail(log, err)
	}
	mux := session.NewMux()
	if err := buslink.Register(mux, b); err != nil {
		return fail(log, err)
	}
	nc, err := nats.Connect(os.Getenv(natsEnv), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		return fail(log, err)
	}
	br, err := New(Config{Bus: b, Conn: nc, Export: xpExports, Import: xpImports, Logger: log})
	if err != nil {
		return fail(log, err)
	}
	exe, _ := os.Executable()
	c, err := host.New(host.Config{
		Path: exe, Name: name, Cookie: cookie, Logger: log, HostServices: mux,
		Env:      []string{modeEnv + "=plugin", nameEnv + "=" + name, "GORACE=atexit_sleep_ms=0"},
		Versions: map[uint32][]host.ServiceDesc{1: {{Name: ctlName, Methods: []host.MethodDesc{{Name: "Ping", Signature: 1}}}}},
	})
	if err == nil {
		err = c.Start(context.Background())
	}
	if err != nil {
		return fail(log, err)
	}
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the test closes it (or kills us)
	_ = c.Close()
	br.Close()
	nc.Close()
	return 0
}

func fail(log hclog.Logger, err error) int {
	log.Error("test host failed", "error", err)
	return 1
}

// pluginMain is a host's plugin. Through its host's bus it: reports
// itself ready; acknowledges every event ("doc.>") and every job it takes
// from the queue group ("net.jobs.>") by publishing on "ack.<kind>.<its
// name>.<subject>"; and, on "cmd.publish.<its name>.<n>", publishes n
// events and n jobs itself.
func pluginMain() {
	name := os.Getenv(nameEnv)
	ping := plugin.Method{Name: "Ping", Signature: 1, Unary: func(context.Context, []byte) (plexus.Marshaler, error) { return plexus.Raw{}, nil }}
	plugin.Serve(plugin.ServeConfig{
		Cookie: cookie, Logger: plugin.Logger(name),
		Versions:     map[uint32][]plugin.Service{1: {{Name: ctlName, Methods: []plugin.Method{ping}}}},
		HostServices: map[uint32][]plugin.ServiceDesc{1: {buslink.ServiceDesc}},
		OnLink: func(h session.Conn, _ uint32) {
			go work(buslink.NewClient(h), name) // OnLink must not wait for the host
		},
	})
}

func work(c *buslink.Client, name string) {
	ctx := context.Background()
	ack := func(kind, subject string) {
		_ = c.PublishAsync(ctx, &bus.Message{Subject: "ack." + kind + "." + name + "." + subject})
	}
	for _, s := range []struct{ pattern, queue, kind string }{{"doc.>", "", "doc"}, {"net.jobs.>", "w", "job"}, {"cmd.publish." + name + ".*", "", "cmd"}} {
		sub, err := c.Subscribe(ctx, s.pattern, bus.SubOptions{Queue: s.queue, Buffer: 4096})
		if err != nil {
			fmt.Fprintln(os.Stderr, "plugin:", err)
			os.Exit(1)
		}
		go func() {
			_ = sub.Consume(ctx, func(d *buslink.Delivery) error {
				if s.kind != "cmd" {
					ack(s.kind, d.Subject)
					return nil
				}
				n, _ := strconv.Atoi(d.Subject[len("cmd.publish."+name+"."):])
				for i := range n {
					_, _ = c.Publish(ctx, &bus.Message{Subject: fmt.Sprintf("doc.%s.%d", name, i)})
					_ = c.PublishAsync(ctx, &bus.Message{Subject: fmt.Sprintf("jobs.%s.%d", name, i)})
				}
				return nil
			})
		}()
	}
	ack("ready", "x")
}
