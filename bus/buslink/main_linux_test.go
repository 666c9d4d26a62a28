package buslink_test

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/plexustest"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The test binary is also the test plugin: BUSLINKTEST_MODE picks what
// it does when a host starts it, BUSLINKTEST_NAME names it.
const (
	modeEnv = "BUSLINKTEST_MODE"
	nameEnv = "BUSLINKTEST_NAME"
	// stallEnv makes a queue worker stop acknowledging after that many
	// messages: it goes on taking and reporting them, so that it holds
	// its whole buffer in flight, processed and unacknowledged.
	stallEnv = "BUSLINKTEST_STALL"
	cookie   = "plexus-buslink-test"
	// ctlName is the plugins' own service, through which the host
	// drives them: Ready waits for the plugin's subscription and returns
	// its pid; Publish makes it publish.
	ctlName = "buslinktest.Ctl"
	ctlSig  = 0x6275736c
)

var (
	readyID      = plexus.MethodID(ctlName, "Ready")
	publishID    = plexus.MethodID(ctlName, "Publish")
	publishBigID = plexus.MethodID(ctlName, "PublishBig")
)

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		// The host's spawner goroutine, started with the first plugin,
		// lives as long as the process.
		base := runtime.NumGoroutine() + 1
		code := m.Run()
		// Every subscription's goroutines end with it, on both sides;
		// the fuzzing engine keeps a goroutine of its own.
		if code == 0 && flag.Lookup("test.fuzz").Value.String() == "" {
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > base {
				buf := make([]byte, 1<<20)
				fmt.Fprintf(os.Stderr, "goroutine leak: %d running, %d before the tests\n%s", n, base, buf[:runtime.Stack(buf, true)])
				code = 1
			}
		}
		os.Exit(code)
	case "queue":
		servePlugin(queueWorker)
	case "fan":
		servePlugin(fanEcho)
	case "big":
		servePlugin(bigReader)
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv)
		os.Exit(97)
	}
}

// servePlugin serves the Ctl service and, once linked, runs work with a
// bus client of the host's bus; work returns once it has subscribed, its
// consumer running on. The plugin declares plexus.Bus among the host
// services it calls, so a host that serves another wire form refuses it.
func servePlugin(work func(c *buslink.Client) error) {
	name := os.Getenv(nameEnv)
	ready := make(chan struct{})
	var client *buslink.Client
	var werr error
	ctl := plugin.Service{Name: ctlName, Methods: []plugin.Method{
		{Name: "Ready", Signature: ctlSig, Unary: func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if werr != nil {
				return nil, werr
			}
			return plexus.Raw(binary.BigEndian.AppendUint64(nil, uint64(os.Getpid()))), nil
		}},
		{Name: "Publish", Signature: ctlSig, Unary: func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			if len(req) != 8 {
				return nil, plexus.Errorf(plexus.InvalidArgument, "Publish takes a count")
			}
			delivered, err := publishN(ctx, client, "fan."+name, int(binary.BigEndian.Uint64(req)))
			return plexus.Raw(binary.BigEndian.AppendUint64(nil, uint64(delivered))), err
		}},
		{Name: "PublishBig", Signature: ctlSig, Unary: func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			if len(req) != 8 {
				return nil, plexus.Errorf(plexus.InvalidArgument, "PublishBig takes a size")
			}
			res, err := client.Publish(ctx, &bus.Message{Subject: "big." + name, Data: bigData(int(binary.BigEndian.Uint64(req)))})
			return plexus.Raw(binary.BigEndian.AppendUint64(nil, uint64(res.Delivered))), err
		}},
	}}
	plugin.Serve(plugin.ServeConfig{Cookie: cookie, Logger: plugin.Logger(name),
		Versions:     map[uint32][]plugin.Service{1: {ctl}},
		HostServices: map[uint32][]plugin.ServiceDesc{1: {buslink.ServiceDesc}},
		OnLink: func(h session.Conn, _ uint32) {
			client = buslink.NewClient(h)
			// Not here: OnLink must not wait for a call of the host.
			go func() {
				werr = work(client)
				close(ready)
			}()
		}})
}

// publishN publishes messages 0..n-1 on subject and returns how many
// subscriptions they reached in all.
func publishN(ctx context.Context, c *buslink.Client, subject string, n int) (int, error) {
	total := 0
	for id := range n {
		res, err := c.Publish(ctx, msgOf(subject, id))
		if err != nil {
			return total, err
		}
		total += res.Delivered
	}
	return total, nil
}

// workerBuffer is the queue workers' SubOptions.Buffer.
const workerBuffer = 64

// queueWorker is a member of the queue group "workers" on "work": it
// reports each message it processes by publishing its ID on
// "report.<pid>" (and waits for the host's bus to have it), then
// acknowledges it (unless stalled).
func queueWorker(c *buslink.Client) error {
	stall := -1
	if v := os.Getenv(stallEnv); v != "" {
		stall, _ = strconv.Atoi(v)
	}
	s, err := c.Subscribe(context.Background(), "work", bus.SubOptions{Queue: "workers", Buffer: workerBuffer})
	if err != nil {
		return err
	}
	report := fmt.Sprintf("report.%d", os.Getpid())
	go func() {
		ctx := context.Background()
		for {
			d, err := s.Next(ctx)
			if err != nil {
				return
			}
			var h plexus.Metadata
			if d.Redelivered {
				h = plexus.Metadata{"redelivered": "1"}
			}
			if _, err := c.Publish(ctx, &bus.Message{Subject: report, Header: h, Data: d.Data}); err != nil {
				return
			}
			if stall == 0 {
				continue
			}
			stall--
			if d.Done() != nil {
				return
			}
		}
	}()
	return nil
}

// fanEcho subscribes to "fan.>" and echoes each message published by
// another plugin (or the host) on "echo.<name>", as a notification.
func fanEcho(c *buslink.Client) error {
	name := os.Getenv(nameEnv)
	s, err := c.Subscribe(context.Background(), "fan.>", bus.SubOptions{Buffer: 1024})
	if err != nil {
		return err
	}
	go func() {
		ctx := context.Background()
		for {
			d, err := s.Next(ctx)
			if err != nil {
				return
			}
			if d.Subject != "fan."+name {
				if err := c.PublishAsync(ctx, &bus.Message{Subject: "echo." + name, Data: d.Data}); err != nil {
					return
				}
			}
			_ = d.Done()
		}
	}()
	return nil
}

// logBuf collects the log of a test host or plugin, shown if the test fails.
type logBuf = plexustest.LogBuffer

// hostMux serves b to plugins.
func hostMux(t *testing.T, b *bus.Bus) *session.Mux {
	mux := session.NewMux()
	require.NoError(t, buslink.Register(mux, b))
	return mux
}

// startPlugin starts the test binary as plugin name in mode, linked over
// shared memory with mux as the host's services; restart: it is
// restarted (quickly) when it dies. It waits for the plugin's
// subscription (Ready).
func startPlugin(t *testing.T, mux *session.Mux, mode, name string, restart bool, env ...string) *host.Client {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	var buf logBuf
	cfg := host.Config{
		Path: exe, Name: name, Cookie: cookie, Link: host.LinkDefault,
		// A race-enabled plugin sleeps 1 s at exit unless told not to.
		Env:          append([]string{modeEnv + "=" + mode, nameEnv + "=" + name, "GORACE=atexit_sleep_ms=0"}, env...),
		Versions:     map[uint32][]host.ServiceDesc{1: {{Name: ctlName, Methods: []host.MethodDesc{{Name: "Ready", Signature: ctlSig}, {Name: "Publish", Signature: ctlSig}, {Name: "PublishBig", Signature: ctlSig}}}}},
		HostServices: mux,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: &buf, JSONFormat: true, Level: hclog.Info,
			Mutex: &sync.Mutex{}}),
		StartTimeout: 20 * time.Second,
	}
	if restart {
		cfg.Restart = host.RestartPolicy{MaxRestarts: 10, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	}
	c, err := host.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Close()
		if t.Failed() {
			t.Logf("host log of %s:\n%s", name, buf.String())
		}
	})
	require.NoError(t, c.Start(context.Background()))
	ready(t, c)
	return c
}

// ready waits for the plugin's subscription and returns its pid.
func ready(t *testing.T, c *host.Client) int {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(testCtx(t), readyID, plexus.Raw{}, &resp))
	require.Len(t, resp, 8)
	return int(binary.BigEndian.Uint64(resp))
}

// subjectTail is what follows prefix in subject.
func subjectTail(subject, prefix string) string {
	return strings.TrimPrefix(subject, prefix)
}
