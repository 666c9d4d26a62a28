package delivery_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/plexustest"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/delivery"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
)

// The test binary is also the test plugin: DELIVERYTEST_MODE picks what
// it does when a host re-executes it.
const (
	modeEnv = "DELIVERYTEST_MODE"
	// fileEnv names the file the chaos plugin's handler appends each
	// message to (its ID and payload, one line), which is also its
	// Store's record; dupsEnv the file where it notes each duplicate it
	// acknowledged without handling.
	fileEnv = "DELIVERYTEST_FILE"
	dupsEnv = "DELIVERYTEST_DUPS"
	cookie  = "plexus-delivery-test"
	noteSig = 0x5151 // the plugin's methods' signature hashes, as the host expects them
)

var countID = plexus.MethodID(sinkName, "Count")

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		os.Exit(m.Run())
	case "chaos":
		chaosPlugin()
	case "bench":
		benchPlugin()
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv)
		os.Exit(97)
	}
}

// chaosPlugin serves Note by appending "<message ID> <payload>\n" to the
// file, one write per line, and acknowledged delivery with that file as
// its Store: the handler's line is the record of the ID, so that a
// message handled by an instance killed before it acknowledged is known
// to its successor.
func chaosPlugin() {
	st, f, err := openFileStore(os.Getenv(fileEnv), os.Getenv(dupsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos plugin:", err)
		os.Exit(3)
	}
	note := func(ctx context.Context, msg []byte) {
		line := delivery.MessageID(ctx) + " " + string(msg) + "\n"
		if _, err := f.Write([]byte(line)); err != nil {
			// Not handled: no acknowledgement, and the sender resends.
			panic(fmt.Sprintf("chaos plugin: appending %q: %v", line, err))
		}
	}
	serve(note, delivery.ReceiverConfig{Store: st})
}

// benchPlugin serves Note by counting, and Count, which says how many
// Notes ran.
func benchPlugin() {
	serve(func(context.Context, []byte) { benchNotes.Add(1) }, delivery.ReceiverConfig{})
}

var benchNotes atomic.Uint64

// serve runs the plugin: test.Sink's Note (note) and Count, and
// acknowledged delivery (cfg).
func serve(note func(context.Context, []byte), cfg delivery.ReceiverConfig) {
	svc := plugin.Service{Name: sinkName, Methods: []plugin.Method{
		{Name: "Note", Signature: noteSig, Notify: note},
		{Name: "Count", Signature: noteSig, Unary: func(context.Context, []byte) (plexus.Marshaler, error) {
			return plexus.Raw(binary.LittleEndian.AppendUint64(nil, benchNotes.Load())), nil
		}},
	}}
	plugin.Serve(plugin.ServeConfig{Cookie: cookie, Logger: plugin.Logger("sink"),
		Versions: map[uint32][]plugin.Service{1: {svc, delivery.Service(cfg)}}})
}

// logBuf collects the log of a test host or plugin, shown if the test fails.
type logBuf = plexustest.LogBuffer

// startPlugin starts the test binary as a plugin in mode, with env added
// to its environment, and restarts it (quickly) when it dies. The host
// requires acknowledged delivery of it at link time (ServiceDesc).
func startPlugin(tb testing.TB, mode string, env ...string) *host.Client {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	var buf logBuf
	sink := host.ServiceDesc{Name: sinkName, Methods: []host.MethodDesc{
		{Name: "Note", Signature: noteSig}, {Name: "Count", Signature: noteSig}}}
	c, err := host.New(host.Config{
		Path: exe, Name: mode, Cookie: cookie,
		// A race-enabled plugin sleeps 1 s at exit unless told not to.
		Env:      append([]string{modeEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"}, env...),
		Versions: map[uint32][]host.ServiceDesc{1: {sink, delivery.ServiceDesc}},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: &buf, JSONFormat: true, Level: hclog.Info,
			Mutex: &sync.Mutex{}}),
		Restart:      host.RestartPolicy{MaxRestarts: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		StartTimeout: 20 * time.Second,
	})
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = c.Close()
		if tb.Failed() {
			tb.Logf("host log:\n%s", buf.String())
		}
	})
	require.NoError(tb, c.Start(context.Background()))
	return c
}
