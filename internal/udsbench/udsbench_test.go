//go:build unix

package udsbench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// orphanEnv makes the test binary an intermediate process that starts a
// peer, reports its pid and waits to be killed: the parent-death test.
const orphanEnv = "PLEXUS_UDSBENCH_TEST_ORPHAN"

func TestMain(m *testing.M) {
	MaybeServePeer()
	if os.Getenv(orphanEnv) != "" {
		os.Exit(runOrphanParent())
	}
	os.Exit(m.Run())
}

// runOrphanParent starts a peer, then sends the test its pid and a duplicate
// of the socket end that keeps the peer from seeing EOF (over the Unix
// socket inherited as fd 3), and waits to be killed.
func runOrphanParent() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "orphan parent:", err); return 1 }
	p, err := StartPeer()
	if err != nil {
		return fail(err)
	}
	f, err := p.Conn.File()
	if err != nil {
		return fail(err)
	}
	up := os.NewFile(3, "test")
	c, err := net.FileConn(up)
	if err != nil {
		return fail(err)
	}
	_, _, err = c.(*net.UnixConn).WriteMsgUnix([]byte(strconv.Itoa(p.Pid())), syscall.UnixRights(int(f.Fd())), nil)
	if err != nil {
		return fail(err)
	}
	// Bounded: the test kills us long before this.
	time.Sleep(30 * time.Second)
	return 2
}

func startPeer(tb testing.TB) *Peer {
	tb.Helper()
	p, err := StartPeer()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// pair returns both ends of an in-process socketpair.
func pair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := socketpair()
	require.NoError(t, err)
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		require.NoError(t, err)
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { conns[i].Close() })
	}
	return conns[0], conns[1]
}

func TestPingPong(t *testing.T) {
	p := startPeer(t)
	const n = 1000
	lat := make([]time.Duration, n)
	require.NoError(t, PingPong(p.Conn, n, lat))
	for i, d := range lat {
		require.Positive(t, d, "round trip %d", i)
	}
	p50, p99 := Percentile(lat, 50), Percentile(lat, 99)
	require.LessOrEqual(t, p50, p99)
	t.Logf("%d round trips: p50 %v, p99 %v, max %v", n, p50, p99, lat[n-1])

	start := time.Now()
	require.NoError(t, p.Close(), "the peer exits cleanly at EOF")
	require.Less(t, time.Since(start), closeTimeout, "and promptly")
	require.NoError(t, p.Close(), "Close is idempotent")
}

// The content check must be able to fail: a peer that damages one byte of
// the tenth message is caught on exactly that round trip.
func TestPingPongDetectsBadEcho(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(i int, msg []byte) []byte
	}{
		{"flipped byte", func(i int, msg []byte) []byte {
			if i == 9 {
				msg[MsgSize-1] ^= 1
			}
			return msg
		}},
		{"stale echo", func() func(int, []byte) []byte {
			var prev []byte
			return func(i int, msg []byte) []byte {
				defer func() { prev = append(prev[:0], msg...) }()
				if i == 9 {
					return append([]byte(nil), prev...)
				}
				return msg
			}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			go func() {
				buf := make([]byte, MsgSize)
				for i := 0; ; i++ {
					if _, err := io.ReadFull(b, buf); err != nil {
						return
					}
					if _, err := b.Write(tc.mangle(i, buf)); err != nil {
						return
					}
				}
			}()
			err := PingPong(a, 100, make([]time.Duration, 100))
			require.ErrorContains(t, err, "round trip 9: echo differs")
		})
	}
}

func TestPingPongArguments(t *testing.T) {
	a, _ := pair(t)
	require.Error(t, PingPong(a, 10, make([]time.Duration, 9)))
	require.Error(t, PingPong(a, -1, nil))
	require.NoError(t, PingPong(a, 0, nil))
}

func TestServe(t *testing.T) {
	a, b := pair(t)
	served := make(chan error, 1)
	go func() { served <- Serve(b) }()
	msg := make([]byte, MsgSize)
	got := make([]byte, MsgSize)
	for i := range 3 {
		fill(msg, uint64(i))
		_, err := a.Write(msg)
		require.NoError(t, err)
		_, err = io.ReadFull(a, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
	require.NoError(t, a.CloseWrite())
	select {
	case err := <-served:
		require.NoError(t, err, "EOF between messages ends Serve cleanly")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at EOF")
	}

	// EOF in the middle of a message is the peer's error, and reported.
	a, b = pair(t)
	go func() { served <- Serve(b) }()
	_, err := a.Write(msg[:MsgSize/2])
	require.NoError(t, err)
	require.NoError(t, a.CloseWrite())
	select {
	case err := <-served:
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at EOF")
	}
}

func TestPercentile(t *testing.T) {
	require.Zero(t, Percentile(nil, 50))
	d := []time.Duration{9, 1, 5, 3, 7, 2, 8, 4, 10, 6}
	require.Equal(t, time.Duration(5), Percentile(d, 50))
	require.Equal(t, []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, d, "sorted in place")
	require.Equal(t, time.Duration(10), Percentile(d, 99))
	require.Equal(t, time.Duration(10), Percentile(d, 100))
	require.Equal(t, time.Duration(1), Percentile(d, 0))
	require.Equal(t, time.Duration(1), Percentile(d, 10))
	require.Equal(t, time.Duration(2), Percentile(d, 10.01))
	require.Equal(t, time.Duration(1), Percentile(d, -5))
	require.Equal(t, time.Duration(10), Percentile(d, 250))
	require.Equal(t, time.Duration(7), Percentile([]time.Duration{7}, 50))
}

// A peer must not outlive a parent that is killed outright, even when its
// socket stays open elsewhere (here: in this test), so that EOF never comes
// and only the parent-death signal can end it.
func TestPeerDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux only; elsewhere the peer relies on EOF")
	}
	up, down := pair(t)
	downFile, err := down.File()
	require.NoError(t, err)
	defer downFile.Close()

	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{downFile}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	buf, oob := make([]byte, 32), make([]byte, syscall.CmsgSpace(4))
	require.NoError(t, up.SetReadDeadline(time.Now().Add(30*time.Second)))
	n, oobn, _, _, err := up.ReadMsgUnix(buf, oob)
	require.NoError(t, err, "the intermediate process never reported its peer")
	pid, err := strconv.Atoi(string(buf[:n]))
	require.NoError(t, err)
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	fds, err := syscall.ParseUnixRights(&msgs[0])
	require.NoError(t, err)
	require.Len(t, fds, 1)
	held := os.NewFile(uintptr(fds[0]), "peer-socket")
	defer held.Close() // after the checks: while it is open the peer sees no EOF

	require.True(t, alive(pid), "the peer runs while its parent does")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		require.True(t, time.Now().Before(deadline), "peer %d survived its parent", pid)
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process; an orphan is
// reaped by whoever adopts it, which may take a while in a container.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z' && s[i+2] != 'X'
}

// BenchmarkUDSPingPong: ns/op is one round trip of a 64-byte message between
// two processes over a Unix stream socket.
func BenchmarkUDSPingPong(b *testing.B) {
	p := startPeer(b)
	lat := make([]time.Duration, b.N)
	// Warm the path (scheduler, socket buffers) outside the measurement.
	if err := PingPong(p.Conn, min(b.N, 100), lat); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := PingPong(p.Conn, b.N, lat); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(Percentile(lat, 50))/1e3, "p50_us")
	b.ReportMetric(float64(Percentile(lat, 99))/1e3, "p99_us")
}

func TestStream(t *testing.T) {
	p, err := StartSink()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rate, err := Stream(p.Conn, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Fatalf("rate %v", rate)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
