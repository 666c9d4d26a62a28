package driver

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
)

// helperEnv marks a re-executed binary as a load helper; its value is the
// mode.
const helperEnv = "PLEXUS_PEERS_HELPER"

// Helper modes.
const (
	ModeBusyLoop = "busyloop"
	ModeAlloc    = "alloc"
)

// helperMaxLife bounds a helper's life, whatever happens to its parent.
const helperMaxLife = time.Hour

// MaybeHelper turns the process into a load helper and exits if the driver
// started it as one; it returns at once otherwise.
func MaybeHelper() {
	if mode := os.Getenv(helperEnv); mode != "" {
		RunHelper(mode)
	}
}

// RunHelper runs the load of mode until stdin reaches its end (the driver
// closed it or died) or helperMaxLife, and exits the process.
func RunHelper(mode string) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	deadline := time.Now().Add(helperMaxLife)
	switch mode {
	case ModeBusyLoop:
		busyLoop(deadline)
	case ModeAlloc:
		allocLoop(deadline)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
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
// mark) and hashing each with SHA-256. The driver sets GOMAXPROCS=4.
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

// startHelper re-executes the running binary in mode.
func startHelper(mode string, env ...string) (*helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-"+mode)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
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
// says whether it was still running, that is whether the load held.
func (h *helper) stop() error {
	var err error
	select {
	case <-h.done:
		err = fmt.Errorf("helper %s exited early: %v", h.cmd.Args[1], h.cmd.ProcessState)
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

// Conditions.
const (
	CondIdle  = "idle"
	CondBusy  = "busy"
	CondAlloc = "alloc"
)

// AllConditions lists the conditions in their table order.
var AllConditions = []string{CondIdle, CondBusy, CondAlloc}

// conditionLabel describes each condition in the report.
var conditionLabel = map[string]string{
	CondIdle:  "idle",
	CondBusy:  "beside two busy-loop processes",
	CondAlloc: "beside two allocating Go programs (GOMAXPROCS=4, 4 goroutines each)",
}

// rampUp is how long the helpers run before a measurement starts.
const rampUp = 300 * time.Millisecond

// startCondition starts the helpers of cond and returns the function that
// stops them, which reports whether they ran throughout.
func startCondition(cond string) (stop func() error, err error) {
	var mode string
	var env []string
	switch cond {
	case CondIdle:
		return func() error { return nil }, nil
	case CondBusy:
		mode = ModeBusyLoop
	case CondAlloc:
		mode, env = ModeAlloc, []string{"GOMAXPROCS=4"}
	default:
		return nil, fmt.Errorf("unknown condition %q", cond)
	}
	var hs []*helper
	stopAll := func() error {
		var errs []error
		for _, h := range hs {
			if err := h.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
	for range 2 {
		h, err := startHelper(mode, env...)
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		hs = append(hs, h)
	}
	time.Sleep(rampUp)
	return stopAll, nil
}
