package host_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The test binary is also the test plugin: HOSTTEST_MODE picks what it
// does when re-executed.
const (
	modeEnv = "HOSTTEST_MODE"
	cookie  = "plexus-host-test"
	svcName = "hosttest.Echo"
	cbName  = "hosttest.Host" // the host's callback service
)

// signature hashes the tests give the methods (the generator will compute
// real ones); HOSTTEST_SIG changes Echo's on the plugin's side.
const echoSig = 0x1111

var (
	echoID     = plexus.MethodID(svcName, "Echo")
	pidID      = plexus.MethodID(svcName, "Pid")
	blockID    = plexus.MethodID(svcName, "Block")
	crashID    = plexus.MethodID(svcName, "Crash")
	logID      = plexus.MethodID(svcName, "Log")
	callHostID = plexus.MethodID(svcName, "CallHost")
	limitID    = plexus.MethodID(svcName, "Limit")
	spawnID    = plexus.MethodID(svcName, "Spawn")
	pendingID  = plexus.MethodID(svcName, "Pending")
	getwdID    = plexus.MethodID(svcName, "Getwd")
	stdinID    = plexus.MethodID(svcName, "ReadStdin")
	cbGreetID  = plexus.MethodID(cbName, "Greet")
)

func desc() []host.ServiceDesc {
	d := host.ServiceDesc{Name: svcName}
	for _, m := range []string{"Echo", "Pid", "Block", "Crash", "Log", "CallHost", "Limit", "Spawn", "Pending", "Getwd", "ReadStdin"} {
		sig := uint64(0x2222)
		if m == "Echo" {
			sig = echoSig
		}
		d.Methods = append(d.Methods, host.MethodDesc{Name: m, Signature: sig})
	}
	return []host.ServiceDesc{d}
}

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		code := m.Run()
		for _, d := range buildDirs {
			_ = os.RemoveAll(d)
		}
		os.Exit(code)
	case "echo":
		plugin.Serve(serveConfig())
	case "stubborn":
		cfg := serveConfig()
		cfg.OnLink = func(session.Conn, uint32) { signal.Ignore(syscall.SIGTERM) }
		_ = plugin.Run(cfg)
		time.Sleep(time.Hour) // stuck after its link ended
	case "sleeper":
		time.Sleep(time.Minute)
	case "failstart":
		// A plugin that fails before it serves: its reasons are on stderr.
		for i := range 30 {
			fmt.Fprintf(os.Stderr, "failstart line %02d %s\n", i, strings.Repeat("x", 300))
		}
		os.Exit(3)
	case "exit0":
		os.Exit(0) // not a plugin at all
	case "host":
		os.Exit(hostMain(os.Getenv("HOSTTEST_WRAP")))
	case "listen":
		plugin.Serve(listenConfig())
	default:
		fmt.Fprintln(os.Stderr, "unknown", modeEnv)
		os.Exit(97)
	}
}

func u64(v uint64) plexus.Raw { return binary.LittleEndian.AppendUint64(nil, v) }

// hostConn is the plugin's session, for calls to the host.
var hostConn atomic.Pointer[session.Conn]

// blocked counts the plugin's Block handlers running.
var blocked atomic.Int64

func serveConfig() plugin.ServeConfig {
	sig := uint64(echoSig)
	if s := os.Getenv("HOSTTEST_SIG"); s != "" {
		sig, _ = strconv.ParseUint(s, 0, 64)
	}
	unary := func(name string, s uint64, h session.UnaryHandler) plugin.Method {
		return plugin.Method{Name: name, Signature: s, Unary: h}
	}
	svc := plugin.Service{Name: svcName, Methods: []plugin.Method{
		unary("Echo", sig, func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			return plexus.Raw(req), nil
		}),
		unary("Pid", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			return u64(uint64(os.Getpid())), nil
		}),
		unary("Block", 0x2222, func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			blocked.Add(1)
			defer blocked.Add(-1)
			<-ctx.Done()
			return nil, ctx.Err()
		}),
		unary("Crash", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			go func() { panic("test plugin crashes on purpose") }()
			select {}
		}),
		unary("Log", 0x2222, func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			log := plugin.Logger("echo")
			log.Warn("structured entry", "answer", 42, "who", "plugin")
			fmt.Fprintln(os.Stdout, "plain stdout line")
			fmt.Fprintln(os.Stdout, "long:"+strings.Repeat("x", int(binary.LittleEndian.Uint64(req))))
			return plexus.Raw{}, nil
		}),
		unary("CallHost", 0x2222, func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			var resp plexus.Raw
			if err := (*hostConn.Load()).Invoke(ctx, cbGreetID, plexus.Raw(req), &resp); err != nil {
				return nil, err
			}
			return resp, nil
		}),
		unary("Limit", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			var rl unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
				return nil, err
			}
			return u64(rl.Cur), nil
		}),
		unary("Pending", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			return u64(uint64(blocked.Load())), nil
		}),
		unary("Getwd", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			wd, err := os.Getwd()
			return plexus.Raw(wd), err
		}),
		unary("ReadStdin", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			b, err := io.ReadAll(os.Stdin)
			return plexus.Raw(b), err
		}),
		unary("Spawn", 0x2222, func(context.Context, []byte) (plexus.Marshaler, error) {
			exe, _ := os.Executable()
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), modeEnv+"=sleeper")
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			go cmd.Wait()
			return u64(uint64(cmd.Process.Pid)), nil
		}),
	}}
	versions := map[uint32][]plugin.Service{1: {svc}, 2: {svc}}
	if v := os.Getenv("HOSTTEST_VERSIONS"); v != "" {
		versions = map[uint32][]plugin.Service{}
		for _, f := range strings.Split(v, ",") {
			n, _ := strconv.Atoi(f)
			versions[uint32(n)] = []plugin.Service{svc}
		}
	}
	c := cookie
	if v, ok := os.LookupEnv("HOSTTEST_COOKIE"); ok {
		c = v
	}
	slice, _ := time.ParseDuration(os.Getenv("HOSTTEST_SLICE")) // zero: the default
	return plugin.ServeConfig{Cookie: c, Versions: versions, Logger: plugin.Logger("echo"),
		OnLink: func(h session.Conn, _ uint32) { hostConn.Store(&h) }, TimeSlice: slice}
}
