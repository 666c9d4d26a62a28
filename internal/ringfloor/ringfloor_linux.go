package ringfloor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cell is one ring position, a cache line: the stamp (the position plus
// one) publishes it, written last by the producer and polled by the
// consumer.
type cell struct {
	stamp atomic.Uint64
	id    uint32
	_     uint32
	data  uint64
	_     [cellSize - 24]byte
}

type ring [cells]cell

const segSize = 2 * cells * cellSize

// rings maps the segment and returns its request and answer rings.
func rings(fd int) (req, ans *ring, mem []byte, err error) {
	mem, err = unix.Mmap(fd, 0, segSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, nil, err
	}
	return (*ring)(unsafe.Pointer(&mem[0])), (*ring)(unsafe.Pointer(&mem[segSize/2])), mem, nil
}

// yieldEvery is how many empty polls a poller makes between yields of its
// processor, as plexus's pollers (session.yieldEvery).
const yieldEvery = 64

// parentEvery is how many empty polls the peer makes between looks at
// whether its parent still lives (SIGKILL on its death normally comes
// first).
const parentEvery = 1 << 16

// serve is the peer: it echoes requests until the stop cell, corrupting
// the data of the request numbered corrupt (1-based; "0": none).
func serve(corrupt string) error {
	bad, err := strconv.ParseUint(corrupt, 10, 64)
	if err != nil {
		return fmt.Errorf("marker %q: %w", corrupt, err)
	}
	req, ans, _, err := rings(3)
	if err != nil {
		return fmt.Errorf("map fd 3: %w", err)
	}
	parent := os.Getppid()
	var head, tail uint64
	for idle := 1; ; idle++ {
		c := &req[head%cells]
		if c.stamp.Load() != head+1 {
			if idle%yieldEvery == 0 {
				runtime.Gosched()
			}
			if idle%parentEvery == 0 && os.Getppid() != parent {
				return errors.New("parent gone")
			}
			continue
		}
		idle = 0
		id, data := c.id, c.data
		head++
		switch {
		case id == stopID:
			return nil
		case id >= MaxCallers:
			return fmt.Errorf("request %d from caller %d (at most %d)", head, id, MaxCallers)
		case head == bad:
			data ^= 1
		}
		o := &ans[tail%cells]
		o.id, o.data = id, data
		o.stamp.Store(tail + 1)
		tail++
	}
}

// Peer is a running echo peer process and this side's end of its rings.
type Peer struct {
	req, ans *ring
	mem      []byte
	cmd      *exec.Cmd
	stderr   bytes.Buffer
	exited   chan struct{} // closed when the child has exited (waitErr set)
	waitErr  error

	mu   sync.Mutex // the request ring's producer end
	tail uint64     // under mu
	head uint64     // the answer ring's consumer end: Calls' dispatcher

	closeOnce sync.Once
	closeErr  error
}

// Start starts the echo peer: this binary, re-executed, mapping the same
// memfd. The binary must call MaybeServe first thing in main or TestMain.
func Start() (*Peer, error) { return start(0) }

// start starts a peer that corrupts its bad-th answer (0: none).
func start(bad uint64) (*Peer, error) {
	fd, err := unix.MemfdCreate("plexus-ringfloor", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ringfloor: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "plexus-ringfloor")
	defer f.Close() // the mapping and the child's copy keep the memory
	if err := unix.Ftruncate(fd, segSize); err != nil {
		return nil, fmt.Errorf("ringfloor: %w", err)
	}
	p := &Peer{exited: make(chan struct{})}
	if p.req, p.ans, p.mem, err = rings(fd); err != nil {
		return nil, fmt.Errorf("ringfloor: map: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		unix.Munmap(p.mem)
		return nil, fmt.Errorf("ringfloor: %w", err)
	}
	// The argument only matters if the binary forgot MaybeServe: a test
	// binary then runs no tests, any other most likely rejects the flag.
	p.cmd = exec.Command(exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), peerEnv+"="+strconv.FormatUint(bad, 10))
	p.cmd.ExtraFiles = []*os.File{f} // fd 3
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		unix.Munmap(p.mem)
		return nil, fmt.Errorf("ringfloor: start peer: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// push publishes one request.
func (p *Peer) push(id uint32, data uint64) {
	p.mu.Lock()
	c := &p.req[p.tail%cells]
	c.id, c.data = id, data
	c.stamp.Store(p.tail + 1)
	p.tail++
	p.mu.Unlock()
}

// answerWait bounds how long Calls waits for an answer before it calls
// the peer stuck.
const answerWait = 5 * time.Second

// Calls runs callers goroutines for d, each pushing a request and waiting
// for its echo (checked) before the next, and returns the calls per
// second. The dispatcher goroutine that polls the answers is Calls' own.
func (p *Peer) Calls(callers int, d time.Duration) (float64, error) {
	if callers < 1 || callers > MaxCallers {
		return 0, fmt.Errorf("ringfloor: %d callers (1 to %d)", callers, MaxCallers)
	}
	wakes := make([]chan uint64, callers)
	for i := range wakes {
		wakes[i] = make(chan uint64, 1)
	}
	var stop atomic.Bool
	dispErr := make(chan error, 1)
	go func() { dispErr <- p.dispatch(wakes, &stop) }()

	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	quit := make(chan struct{})
	var quitOnce sync.Once
	end := time.Now().Add(d)
	t0 := time.Now()
	for w := range callers {
		wg.Go(func() {
			n := 0
			defer func() { total.Add(int64(n)) }()
			for ; n%64 != 0 || time.Now().Before(end); n++ {
				data := uint64(w)<<32 | uint64(n)
				p.push(uint32(w), data)
				var got uint64
				select {
				case got = <-wakes[w]:
				case <-quit:
					return
				}
				if got != data {
					errs <- fmt.Errorf("ringfloor: caller %d, call %d: echo %#x, sent %#x", w, n, got, data)
					quitOnce.Do(func() { close(quit) })
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case err = <-dispErr:
		quitOnce.Do(func() { close(quit) })
		<-done
	}
	el := time.Since(t0)
	stop.Store(true)
	if err == nil {
		err = <-dispErr
	}
	select {
	case e := <-errs:
		err = errors.Join(e, err)
	default:
	}
	if err != nil {
		return 0, err
	}
	return float64(total.Load()) / el.Seconds(), nil
}

// dispatch polls the answer ring and hands each answer to its caller,
// until stop; it fails if the peer exits or no answer comes for
// answerWait while callers wait.
func (p *Peer) dispatch(wakes []chan uint64, stop *atomic.Bool) error {
	var since time.Time
	for idle := 1; !stop.Load(); idle++ {
		c := &p.ans[p.head%cells]
		if c.stamp.Load() != p.head+1 {
			if idle%yieldEvery == 0 {
				runtime.Gosched()
			}
			if idle%parentEvery == 0 {
				select {
				case <-p.exited:
					return p.peerErr("peer exited")
				default:
				}
				if since.IsZero() {
					since = time.Now()
				} else if time.Since(since) > answerWait {
					return p.peerErr(fmt.Sprintf("no answer for %v", answerWait))
				}
			}
			continue
		}
		idle, since = 0, time.Time{}
		id, data := c.id, c.data
		p.head++
		if int(id) >= len(wakes) {
			return fmt.Errorf("ringfloor: answer for caller %d of %d", id, len(wakes))
		}
		wakes[id] <- data // buffered: one call in flight per caller
	}
	return nil
}

// peerErr describes the peer's failure, with what it wrote to stderr.
func (p *Peer) peerErr(what string) error {
	select {
	case <-p.exited:
		return fmt.Errorf("ringfloor: %s: %v: %s", what, p.waitErr, bytes.TrimSpace(p.stderr.Bytes()))
	default:
		return fmt.Errorf("ringfloor: %s", what)
	}
}

// exitWait bounds Close's wait for the peer to exit before it kills it.
const exitWait = 5 * time.Second

// Close stops the peer, waits for it (killing it after exitWait) and
// unmaps the rings. It reports a peer that failed.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.push(stopID, 0)
		select {
		case <-p.exited:
		case <-time.After(exitWait):
			p.cmd.Process.Kill()
			<-p.exited
			p.closeErr = errors.New("ringfloor: peer did not stop; killed")
		}
		if p.closeErr == nil && p.waitErr != nil {
			p.closeErr = p.peerErr("peer failed")
		}
		p.closeErr = errors.Join(p.closeErr, unix.Munmap(p.mem))
	})
	return p.closeErr
}
