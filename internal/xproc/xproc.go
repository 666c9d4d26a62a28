package xproc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"time"
)

const envName = "PLEXUS_XPROC_HELPER"

var helpers = map[string]func() int{}

// Register names a helper. The function runs in the child and returns its
// exit code; the files passed to Start are available as File(0), File(1)...
func Register(name string, fn func() int) {
	if _, dup := helpers[name]; dup {
		panic("xproc: helper registered twice: " + name)
	}
	helpers[name] = fn
}

// Main runs the requested helper and exits if this process is a child;
// otherwise it returns and TestMain goes on to m.Run.
func Main() {
	name := os.Getenv(envName)
	if name == "" {
		return
	}
	fn, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "xproc: no helper named %q\n", name)
		os.Exit(97)
	}
	os.Exit(runProfiled(fn))
}

// runProfiled runs fn, writing a CPU profile of the child to the file
// named by PLEXUS_XPROC_CPUPROFILE if it is set: the serving side of a
// cross-process benchmark is otherwise out of reach of -cpuprofile.
func runProfiled(fn func() int) int {
	path := os.Getenv("PLEXUS_XPROC_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xproc: %v\n", err)
		return fn()
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "xproc: %v\n", err)
		return fn()
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// IsChild reports whether this process is running a helper.
func IsChild() bool { return os.Getenv(envName) != "" }

// File returns the i-th file passed by the parent (fd 3+i).
func File(i int) *os.File {
	return os.NewFile(uintptr(3+i), "xproc-"+strconv.Itoa(i))
}

// Arg returns the value of a key passed by the parent in Start's env.
func Arg(key string) string { return os.Getenv("PLEXUS_XPROC_" + key) }

// Child is a started helper process.
type Child struct {
	Cmd  *exec.Cmd
	done chan struct{} // closed when the child has been reaped
	err  error         // its exit error, valid once done is closed
}

// Wait waits up to timeout for the child to exit and returns its error
// (nil on exit code 0). On timeout it kills the child.
func (c *Child) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-t.C:
		_ = c.Cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("xproc: helper did not exit within %v (killed)", timeout)
	}
}

// Kill sends SIGKILL to the child.
func (c *Child) Kill() error { return c.Cmd.Process.Kill() }

// TB is the subset of testing.TB that Start needs, so that benchmarks and
// the plexus bench command can share it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start runs helper name in a child with files inherited as fd 3, 4, ...
// and args exported as PLEXUS_XPROC_<key>. The child's stderr goes to ours.
func Start(tb TB, name string, files []*os.File, args map[string]string) *Child {
	tb.Helper()
	c, err := StartCmd(name, files, args)
	if err != nil {
		tb.Fatalf("xproc: start %s: %v", name, err)
	}
	tb.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.Cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// StartCmd is Start without a testing.TB; the caller must Wait or Kill.
func StartCmd(name string, files []*os.File, args map[string]string) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envName+"="+name)
	for k, v := range args {
		cmd.Env = append(cmd.Env, "PLEXUS_XPROC_"+k+"="+v)
	}
	cmd.ExtraFiles = files
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{Cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}
