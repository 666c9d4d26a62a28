package retry_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/plugin/pluginnet"
	"github.com/plexus-ipc/plexus/session"
)

// The test binary is also the test plugin: started with modeEnv set to
// "plugin" it serves the service below instead of running the tests.
const (
	modeEnv   = "RETRYTEST_MODE"
	dirEnv    = "RETRYTEST_DIR" // where the plugin writes what it saw and looks for the release file
	cookie    = "plexus-retry-test"
	pluginSvc = "retrytest.Plugin"
	releaseAt = "release" // the blocking handlers return once this file exists in dirEnv
)

var (
	blockGetID = plexus.MethodID(pluginSvc, "BlockGet")
	blockPutID = plexus.MethodID(pluginSvc, "BlockPut")
	pendingID  = plexus.MethodID(pluginSvc, "Pending")
	echoID     = plexus.MethodID(pluginSvc, "Echo")
	effectID   = plexus.MethodID(pluginSvc, "Effect")
)

// pluginDesc is the host's description of the service: BlockGet is
// idempotent, the others are not. The signatures are arbitrary, equal
// on both sides.
var pluginDesc = host.ServiceDesc{Name: pluginSvc, Methods: []host.MethodDesc{
	{Name: "BlockGet", Kind: plexus.Unary, Signature: 0x51, Idempotent: true},
	{Name: "BlockPut", Kind: plexus.Unary, Signature: 0x52},
	{Name: "Pending", Kind: plexus.Unary, Signature: 0x53},
	{Name: "Echo", Kind: plexus.Unary, Signature: 0x54},
	{Name: "Effect", Kind: plexus.Unary, Signature: 0x55, Idempotent: true},
}}

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		os.Exit(m.Run())
	case "plugin":
		plugin.Serve(plugin.ServeConfig{Cookie: cookie, Versions: map[uint32][]plugin.Service{1: {pluginService(os.Getenv(dirEnv))}}})
	case "listen":
		// Run by the test as a service manager would: hosts attach.
		ln, err := pluginnet.Listen("unix:"+filepath.Join(os.Getenv(dirEnv), "plugin.sock"), nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(plugin.ExitFailed)
		}
		plugin.Serve(plugin.ServeConfig{Cookie: cookie, Versions: map[uint32][]plugin.Service{1: {pluginService(os.Getenv(dirEnv))}},
			Listener: ln})
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv)
		os.Exit(97)
	}
}

// blocked counts the plugin's blocking handlers that are running and
// have written their key.
var blocked atomic.Int64

// pluginService is the plugin's side. BlockGet and BlockPut write the
// idempotency key they were called with to dir/<method>-<pid>, then
// wait for dir/release, and answer "<pid> <key>".
func pluginService(dir string) plugin.Service {
	block := func(name string) session.UnaryHandler {
		return func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			pid := strconv.Itoa(os.Getpid())
			key := plexus.IncomingMetadata(ctx)[session.IdempotencyKey]
			if err := os.WriteFile(filepath.Join(dir, name+"-"+pid), []byte(key), 0o600); err != nil {
				return nil, err
			}
			// Counted once the key is written: a test that sees the count
			// reads the file next (counted first, it could read it empty).
			blocked.Add(1)
			defer blocked.Add(-1)
			// Polled, bounded by the caller's deadline: the release is a
			// file so that it reaches every instance, the restarted one
			// included.
			for {
				if _, err := os.Stat(filepath.Join(dir, releaseAt)); err == nil {
					return plexus.Raw(pid + " " + key), nil
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}
	return plugin.Service{Name: pluginSvc, Methods: []plugin.Method{
		{Name: "BlockGet", Signature: 0x51, Unary: block("BlockGet")},
		{Name: "BlockPut", Signature: 0x52, Unary: block("BlockPut")},
		{Name: "Pending", Signature: 0x53, Unary: func(context.Context, []byte) (plexus.Marshaler, error) {
			return plexus.Raw(binary.LittleEndian.AppendUint64(nil, uint64(blocked.Load()))), nil
		}},
		{Name: "Echo", Signature: 0x54, Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			return plexus.Raw(req), nil
		}},
		{Name: "Effect", Signature: 0x55, Idempotent: true, Unary: func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			return effect(ctx, dir, req)
		}},
	}}
}

// effect is the idempotent method with a side effect: it appends the
// call's idempotency key to dir/effects (one line per run of the
// handler), answers "done:<request>", and then, on its first run only
// (dir/<after> exists), does what after names before the answer can
// leave: "die" kills this process (the answer never leaves), "stall"
// creates dir/ran and waits 300 ms (the test cuts the link meanwhile).
func effect(ctx context.Context, dir string, req []byte) (plexus.Marshaler, error) {
	key := plexus.IncomingMetadata(ctx)[session.IdempotencyKey]
	f, err := os.OpenFile(filepath.Join(dir, "effects"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(key + "\n")
	f.Close()
	if err != nil {
		return nil, err
	}
	for _, after := range []string{"die", "stall"} {
		if os.Remove(filepath.Join(dir, after)) != nil {
			continue // not asked, or done already
		}
		switch after {
		case "die":
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case "stall":
			_ = os.WriteFile(filepath.Join(dir, "ran"), nil, 0o600)
			time.Sleep(300 * time.Millisecond)
		}
	}
	return plexus.Raw("done:" + string(req)), nil
}
