package loadgen

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// Conditions a benchmark runs under.
const (
	Idle  = "idle"
	Busy  = "busy"  // two single-threaded busy loops
	Alloc = "alloc" // two Go programs allocating and hashing on four threads each
)

// Conditions lists them in their report order.
var Conditions = []string{Idle, Busy, Alloc}

// Label describes each condition in a report.
var Label = map[string]string{
	Idle:  "idle",
	Busy:  "beside two busy-loop processes",
	Alloc: "beside two allocating Go programs (GOMAXPROCS=4, 4 goroutines each)",
}

// helperEnv marks a re-executed binary as a load helper; its value is the
// condition.
const helperEnv = "PLEXUS_LOAD_HELPER"

// maxLife bounds a helper's life, whatever happens to its parent.
const maxLife = time.Hour

// RampUp is how long Start lets the helpers run before it returns.
const RampUp = 300 * time.Millisecond

// MaybeHelper turns the process into a load helper and exits if Start
// started it as one; it returns at once otherwise.
func MaybeHelper() {
	if cond := os.Getenv(helperEnv); cond != "" {
		runHelper(cond)
	}
}

// runHelper runs the load of cond until stdin reaches its end (the parent
// closed it or died) or maxLife, and exits the process.
func runHelper(cond string) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	// A load is other programs, with the kernel's default time slice,
	// whether or not the process that started it asked for a short one
	// (a plexus host has, and its children inherit it).
	_ = timeslice.Set(0)
	deadline := time.Now().Add(maxLife)
	switch cond {
	case Busy:
		busyLoop(deadline)
	case Alloc:
		allocLoop(deadline)
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown condition %q\n", cond)
		os.Exit(2)
	}
	os.Exit(0)
}

// sink keeps the loops' results alive.
var sink atomic.Uint64

// busyLoop spins on one core, looking at the clock every few million
// iterations.
func busyLoop(deadline time.Time) {
	var x uint64
	for i := uint64(1); ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i&(1<<22-1) == 0 && time.Now().After(deadline) {
			break
		}
	}
	sink.Store(x)
}

// allocLoop runs four goroutines, each allocating buffers of 4 to 64 KiB,
// keeping the last 128 of them alive (so that the collector has a heap to
// mark) and hashing each with SHA-256. Start sets GOMAXPROCS=4.
func allocLoop(deadline time.Time) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			keep := make([][]byte, 128)
			var sum [32]byte
			for i := 0; time.Now().Before(deadline); i++ {
				n := 4<<10 + (i*7919+g*104729)%(60<<10)
				b := make([]byte, n)
				copy(b, sum[:])
				b[n-1] = byte(i)
				sum = sha256.Sum256(b)
				keep[i%len(keep)] = b
			}
			sink.Add(uint64(sum[0]))
		})
	}
	wg.Wait()
}

// helper is one running load process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
}

// startHelper re-executes the running binary as a helper of cond.
func startHelper(cond string, env ...string) (*helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+cond), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		in.Close()
		return nil, err
	}
	h := &helper{cmd: cmd, stdin: in, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.done) }()
	return h, nil
}

// stop ends the helper (end of file on its stdin; SIGKILL after 2 s) and
// reports an error if it had already exited, that is if the load did not
// hold.
func (h *helper) stop() error {
	var err error
	select {
	case <-h.done:
		err = fmt.Errorf("loadgen: a helper exited early: %v", h.cmd.ProcessState)
	default:
	}
	h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(2 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	return err
}

// Start starts the helpers of cond (none for Idle), lets them run for
// RampUp, and returns the function that stops them, which reports an
// error if one of them did not run throughout.
func Start(cond string) (stop func() error, err error) {
	var env []string
	switch cond {
	case Idle:
		return func() error { return nil }, nil
	case Busy:
	case Alloc:
		env = []string{"GOMAXPROCS=4"}
	default:
		return nil, fmt.Errorf("loadgen: unknown condition %q", cond)
	}
	var hs []*helper
	stopAll := func() error {
		var first error
		for _, h := range hs {
			if err := h.stop(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for range 2 {
		h, err := startHelper(cond, env...)
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		hs = append(hs, h)
	}
	time.Sleep(RampUp)
	return stopAll, nil
}
