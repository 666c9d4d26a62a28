package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// logBuf collects the host logger's JSON lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// entries returns the logged entries, decoded.
func (l *logBuf) entries() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// find returns the first entry whose message contains msg.
func (l *logBuf) find(msg string) map[string]any {
	for _, e := range l.entries() {
		if m, _ := e["@message"].(string); strings.Contains(m, msg) {
			return e
		}
	}
	return nil
}

func exe(t testing.TB) string {
	p, err := os.Executable()
	require.NoError(t, err)
	return p
}

// testLink is the link the tests start their plugins over: the default
// (shared memory), or, with PLEXUS_TEST_LINK=socket, the socket link, and
// with PLEXUS_TEST_LINK=dialback the socket link that connects back to the
// host as on Windows (test.sh runs the package with each).
var testLink = func() host.Link {
	switch os.Getenv("PLEXUS_TEST_LINK") {
	case "socket":
		return host.LinkSocket
	case "dialback":
		host.SetDialBack(true)
		return host.LinkSocket
	}
	return host.LinkDefault
}()

// config is a client of the test plugin in mode echo, logging into buf.
func config(t testing.TB, buf *logBuf, env ...string) host.Config {
	return host.Config{
		Link: testLink,
		Path: exe(t), Name: "echo", Cookie: cookie,
		// A race-enabled plugin sleeps 1 s at exit unless told not to.
		Env:      append([]string{modeEnv + "=echo", "GORACE=atexit_sleep_ms=0"}, env...),
		Versions: map[uint32][]host.ServiceDesc{1: desc(), 2: desc()},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: buf, JSONFormat: true, Level: hclog.Trace,
			Mutex: &sync.Mutex{}}),
		StartTimeout: 20 * time.Second,
		GracePeriod:  2 * time.Second,
	}
}

func start(t testing.TB, cfg host.Config) *host.Client {
	t.Helper()
	c, err := host.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Start(context.Background()))
	return c
}

func echo(ctx context.Context, c interface {
	Invoke(context.Context, uint64, plexus.Marshaler, plexus.Unmarshaler) error
}, s string) (string, error) {
	var resp plexus.Raw
	err := c.Invoke(ctx, echoID, plexus.Raw(s), &resp)
	return string(resp), err
}

func callU64(t testing.TB, c *host.Client, id uint64) uint64 {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), id, plexus.Raw("x"), &resp))
	require.Len(t, resp, 8)
	return binary.LittleEndian.Uint64(resp)
}

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// waitGone waits up to d for pid to be gone.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if gone(pid) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return gone(pid)
}

func TestStartCallClose(t *testing.T) {
	var buf logBuf
	t0 := time.Now()
	c := start(t, config(t, &buf))
	got, err := echo(context.Background(), c, "hello")
	require.NoError(t, err)
	require.Equal(t, "hello", got)
	t.Logf("start to first completed call: %v", time.Since(t0))
	require.Equal(t, uint32(2), c.Version(), "highest common version")
	pid := c.Pid()
	require.Equal(t, uint64(pid), callU64(t, c, pidID))
	pgid, err := unix.Getpgid(pid)
	require.NoError(t, err)
	require.Equal(t, pid, pgid, "the plugin leads its own process group")

	t0 = time.Now()
	require.NoError(t, c.Close())
	t.Logf("graceful close: %v", time.Since(t0))
	require.True(t, gone(pid), "plugin still running after Close")
	exit := buf.find("plugin exited")
	require.NotNil(t, exit)
	require.Equal(t, "exit status 0", exit["status"], "the plugin left by itself after the host's shutdown notice")
	_, err = echo(context.Background(), c, "after")
	require.True(t, errors.Is(err, plexus.ErrLinkClosed), "%v", err)
	require.NoError(t, c.Close(), "Close is idempotent")
}

func TestStartedByHand(t *testing.T) {
	cmd := exec.Command(exe(t))
	cmd.Env = append(os.Environ(), modeEnv+"=echo")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, stderr.String(), "This program is a plexus plugin")
	require.Contains(t, stderr.String(), "Run the host program instead")
}

// startFails starts a client that must fail and checks that nothing was
// left running, and that the error does not stutter.
func startFails(t *testing.T, cfg host.Config) error {
	c, err := host.New(cfg)
	require.NoError(t, err)
	return startFailsWith(t, c)
}

func startFailsWith(t *testing.T, c *host.Client) error {
	t.Helper()
	before := children(t)
	err := c.Start(context.Background())
	require.Error(t, err)
	require.Equal(t, before, children(t), "a failed start left a process behind")
	requireNoStutter(t, err.Error())
	_, cerr := echo(context.Background(), c, "x")
	require.Error(t, cerr)
	require.NoError(t, c.Close())
	return err
}

func TestVersionMismatch(t *testing.T) {
	var buf logBuf
	err := startFails(t, config(t, &buf, "HOSTTEST_VERSIONS=3,4"))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "no common plugin version: host supports [1 2], plugin supports [3 4]")
}

func TestPicksHighestCommonVersion(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf, "HOSTTEST_VERSIONS=1,2,3"))
	require.Equal(t, uint32(2), c.Version())
	c2 := start(t, config(t, &buf, "HOSTTEST_VERSIONS=1"))
	require.Equal(t, uint32(1), c2.Version())
}

func TestSignatureMismatch(t *testing.T) {
	var buf logBuf
	err := startFails(t, config(t, &buf, "HOSTTEST_SIG=0x9999"))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "method hosttest.Echo.Echo has signature hash 0x0000000000009999, host expects 0x0000000000001111")
	// The plugin learnt why too, and said so on its stderr.
	require.Eventually(t, func() bool { return buf.find("host refused the link") != nil }, 5*time.Second, 10*time.Millisecond)
}

func TestWrongCookie(t *testing.T) {
	var buf logBuf
	err := startFails(t, config(t, &buf, "HOSTTEST_COOKIE=someone-else"))
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.Unauthenticated}), "%v", err)
	require.ErrorContains(t, err, "handshake cookie mismatch")
	// The plugin's side of the story, forwarded from its stderr.
	e := buf.find("plugin: link:")
	require.NotNil(t, e, "forwarded by the time Start returned")
	require.Contains(t, e["@message"], "cookie mismatch")
	requireNoStutter(t, e["@message"].(string))
	// The plugin's reason is in the error already: its stderr line
	// saying the same is not quoted again.
	require.Equal(t, 1, strings.Count(err.Error(), "cookie mismatch"), "%v", err)
}

func TestChecksum(t *testing.T) {
	b, err := os.ReadFile(exe(t))
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Checksum = sum[:]
	c := start(t, cfg)
	got, err := echo(context.Background(), c, "verified")
	require.NoError(t, err)
	require.Equal(t, "verified", got)

	bad := sum
	bad[0] ^= 1
	cfg.Checksum = bad[:]
	err = startFails(t, cfg)
	require.ErrorContains(t, err, "checksum mismatch")
}

// children lists this process's child processes, from /proc.
func children(t testing.TB) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	me := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, ok := atoi(e.Name())
		if !ok {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if ppid, ok := atoi(f[1]); ok && ppid == me {
				out = append(out, pid)
			}
		}
	}
	return out
}
