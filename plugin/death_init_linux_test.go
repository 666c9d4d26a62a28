package plugin

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/handshake"
)

// roleEnv makes this test binary a stand-in host ("parent") or the
// process it starts ("child") instead of running the tests.
const roleEnv = "PLUGINTEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "parent":
		os.Exit(runParent())
	case "child":
		// init has run: say what it did, then wait to be signalled.
		fmt.Printf("armed %d pid %d\n", armedAtInit, os.Getpid())
		time.Sleep(30 * time.Second)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// runParent starts a child with the handshake variable naming this
// process as its host, or, with PLUGINTEST_HOST set, that pid instead; the
// child's stdout is this process's. It then waits to be killed.
func runParent() int {
	host := os.Getpid()
	if h := os.Getenv("PLUGINTEST_HOST"); h != "" {
		host, _ = strconv.Atoi(h)
	}
	env := handshake.Env{FirstFD: 3, LastFD: 8, MinProtocol: handshake.MinProtocol,
		MaxProtocol: handshake.MaxProtocol, Versions: []uint32{1}, HostPID: host}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=child", handshake.EnvName+"="+env.String())
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	time.Sleep(30 * time.Second)
	return 2
}

// TestInitArmsParentDeath: a process started directly by the host its
// handshake variable names has the parent-death signal armed by init, on
// the startup thread (no thread of its own), and gets SIGTERM when that
// host dies; one whose variable names another process is left alone.
func TestInitArmsParentDeath(t *testing.T) {
	// Orphans of our descendants come to this process, so the child's
	// end can be seen here.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	parent, child, armed := startParent(t)
	require.Equal(t, parent.Process.Pid, armed, "init armed the signal for its host")
	require.NoError(t, parent.Process.Kill())
	_, _ = parent.Process.Wait()
	ws := waitOrphan(t, child)
	require.True(t, ws.Signaled(), "the child exited (status %v) instead of being signalled", ws)
	require.Equal(t, syscall.SIGTERM, ws.Signal())

	parent, child, armed = startParent(t, "PLUGINTEST_HOST=1")
	require.Zero(t, armed, "the variable names a host that is not the parent")
	_ = parent.Process.Kill()
	_, _ = parent.Process.Wait()
	_ = unix.Kill(child, unix.SIGKILL)
	waitOrphan(t, child)
}

// startParent runs the stand-in host and returns it, its child's pid and
// what the child's init armed.
func startParent(t *testing.T, env ...string) (parent *exec.Cmd, child, armed int) {
	t.Helper()
	parent = exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(append(os.Environ(), roleEnv+"=parent"), env...)
	out, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { _ = parent.Process.Kill(); _, _ = parent.Process.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l := <-line:
		_, err := fmt.Sscanf(l, "armed %d pid %d", &armed, &child)
		require.NoError(t, err, "child said %q", l)
	case <-time.After(20 * time.Second):
		t.Fatal("the child did not report")
	}
	t.Cleanup(func() { _ = unix.Kill(child, unix.SIGKILL) })
	return parent, child, armed
}

// waitOrphan reaps child, an orphan reparented to this subreaper, within
// 10 s.
func waitOrphan(t *testing.T, child int) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(child, &ws, unix.WNOHANG, nil)
		if pid == child {
			return ws
		}
		if err != nil && err != unix.EINTR {
			t.Fatalf("wait4 %d: %v", child, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running 10 s after its host died", child)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
