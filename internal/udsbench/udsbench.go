package udsbench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// MsgSize is the size of every message: one plexus descriptor, so that the
// baseline moves what a plexus call moves at minimum.
const MsgSize = 64

// peerEnv marks a re-executed binary as the echo peer.
const peerEnv = "PLEXUS_UDSBENCH_PEER"

// closeTimeout bounds how long Close waits for the peer to see EOF and exit.
const closeTimeout = 10 * time.Second

// Serve echoes MsgSize-byte messages on conn until the other end closes it.
// A clean EOF between messages returns nil; EOF inside a message is an error.
func Serve(conn *net.UnixConn) error {
	buf := make([]byte, MsgSize)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("udsbench: serve: read: %w", err)
		}
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("udsbench: serve: write: %w", err)
		}
	}
}

// fill gives message i a content of its own, so that an echo of a stale,
// duplicated or damaged message is told apart from the right one.
func fill(msg []byte, i uint64) {
	x := i * 0x9E3779B97F4A7C15
	for off := 0; off < MsgSize; off += 8 {
		x ^= x >> 29
		x *= 0xBF58476D1CE4E5B9
		binary.LittleEndian.PutUint64(msg[off:], x+uint64(off))
	}
	binary.LittleEndian.PutUint64(msg, i)
}

// PingPong performs n round trips of one MsgSize-byte message on conn,
// storing the i-th round-trip time in lat[i], and checks that every echo is
// byte-for-byte the message sent. It allocates once per call, never per
// round trip, so that the allocator stays out of the figures.
func PingPong(conn *net.UnixConn, n int, lat []time.Duration) error {
	return roundTrips("udsbench", n, lat,
		func(b []byte) error { _, err := conn.Write(b); return err },
		func(b []byte) error { _, err := io.ReadFull(conn, b); return err })
}

// roundTrips is the measuring loop of PingPong and PingPongFloor: n round
// trips of one message each, written with write and read back whole with
// read, timed, and checked byte for byte. Errors begin with prefix.
func roundTrips(prefix string, n int, lat []time.Duration, write, read func([]byte) error) error {
	if n < 0 || len(lat) < n {
		return fmt.Errorf("%s: %d round trips need len(lat) >= %d, have %d", prefix, n, n, len(lat))
	}
	buf := make([]byte, 2*MsgSize)
	out, in := buf[:MsgSize], buf[MsgSize:]
	for i := range n {
		fill(out, uint64(i))
		start := time.Now()
		if err := write(out); err != nil {
			return fmt.Errorf("%s: round trip %d: write: %w", prefix, i, err)
		}
		if err := read(in); err != nil {
			return fmt.Errorf("%s: round trip %d: read: %w", prefix, i, err)
		}
		lat[i] = time.Since(start)
		if !bytes.Equal(in, out) {
			return fmt.Errorf("%s: round trip %d: echo differs from the message sent", prefix, i)
		}
	}
	return nil
}

// Percentile returns the p-th percentile (0 <= p <= 100, nearest rank) of d,
// sorting d in place. It returns 0 for an empty d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(math.Ceil(min(max(p, 0), 100) / 100 * float64(len(d))))
	return d[max(rank, 1)-1]
}

// MaybeServePeer makes this process the echo peer if StartPeer started it:
// it serves the socket on fd 3 and exits. Otherwise it returns at once. Call
// it before anything else in main or TestMain.
func MaybeServePeer() {
	if os.Getenv(peerEnv) == "" {
		return
	}
	// The baseline is a plain program, with the kernel's default time
	// slice even when the process measuring it (a plexus host) asked for
	// a short one, which children inherit.
	_ = timeslice.Set(0)
	if err := servePeer(); err != nil {
		fmt.Fprintf(os.Stderr, "udsbench peer: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func servePeer() error {
	serve := Serve
	switch os.Getenv(peerEnv) {
	case sinkMode:
		serve = Sink
	case floorMode:
		return serveFloor(3)
	}
	f := os.NewFile(3, "udsbench-peer")
	if f == nil {
		return errors.New("no fd 3")
	}
	c, err := net.FileConn(f)
	f.Close() // FileConn holds a duplicate
	if err != nil {
		return err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return fmt.Errorf("fd 3 is a %T, not a Unix socket", c)
	}
	defer uc.Close()
	return serve(uc)
}

// Peer is a running echo peer process.
type Peer struct {
	// Conn is this side of the socketpair.
	Conn *net.UnixConn

	cmd       *exec.Cmd
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// StartPeer starts the echo peer: this binary, re-executed, serving the
// other end of a fresh socketpair. The binary must call MaybeServePeer first
// thing in main or TestMain.
func StartPeer() (*Peer, error) { return startMode("1") }

// floorMode is peerEnv's value that makes the peer echo with blocking
// system calls (see PingPongFloor).
const floorMode = "floor"

// StartFloorPeer starts the echo peer of PingPongFloor, as StartPeer does.
func StartFloorPeer() (*Peer, error) { return startMode(floorMode) }

// startMode starts the peer in mode: "1" echoes, sinkMode sinks, floorMode
// echoes with blocking system calls.
func startMode(mode string) (*Peer, error) {
	fds, err := socketpair()
	if err != nil {
		return nil, fmt.Errorf("udsbench: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "udsbench-parent")
	theirs := os.NewFile(uintptr(fds[1]), "udsbench-child")
	// The child has its own copy once started; ours must go, or the
	// child would never see EOF.
	defer theirs.Close()
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("udsbench: %w", err)
	}
	conn := c.(*net.UnixConn) // a socketpair(AF_UNIX) end is always one

	exe, err := os.Executable()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("udsbench: %w", err)
	}
	// The argument only matters if the binary forgot MaybeServePeer: a
	// test binary then runs no tests (instead of recursing into these
	// benchmarks), any other binary most likely rejects the flag.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	setPeerAttrs(cmd)
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("udsbench: start peer: %w", err)
	}
	p := &Peer{Conn: conn, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// Pid returns the peer's process ID.
func (p *Peer) Pid() int { return p.cmd.Process.Pid }

// Close closes the connection, which makes the peer exit, and waits for it;
// a peer that does not exit within closeTimeout is killed. It returns the
// peer's exit error, if any. Close is idempotent.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		cerr := p.Conn.Close()
		select {
		case p.closeErr = <-p.done:
		case <-time.After(closeTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.closeErr = fmt.Errorf("udsbench: peer did not exit within %v of EOF (killed)", closeTimeout)
		}
		if p.closeErr == nil {
			p.closeErr = cerr
		}
	})
	return p.closeErr
}
