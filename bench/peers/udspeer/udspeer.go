package udspeer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers"
)

// Operations.
const (
	opEcho uint32 = iota + 1
	opPut
	opBlob
	opBlock
)

// Response statuses.
const (
	statusOK uint32 = iota
	statusError
)

const (
	hdrSize = 16
	// maxFrame bounds a payload in either direction.
	maxFrame = peers.MaxBlob + 1<<20
	// smallWrite: payloads up to this size are copied behind the header
	// and sent with one write; larger ones go with writev.
	smallWrite = 4096
	// closeWait bounds how long Close waits for the plugin to exit.
	closeWait = 2 * time.Second
)

func putHdr(h []byte, a uint32, n int) {
	binary.LittleEndian.PutUint32(h[0:], a)
	binary.LittleEndian.PutUint32(h[4:], 0)
	binary.LittleEndian.PutUint64(h[8:], uint64(n))
}

// writeFrame writes header and payload; scratch (at least hdrSize) is reused.
func writeFrame(c *net.UnixConn, scratch *[]byte, a uint32, payload []byte) error {
	b := (*scratch)[:hdrSize]
	putHdr(b, a, len(payload))
	if len(payload) <= smallWrite {
		b = append(b, payload...)
		*scratch = b
		_, err := c.Write(b)
		return err
	}
	bufs := net.Buffers{b, payload}
	_, err := bufs.WriteTo(c)
	return err
}

// Serve is the plugin binary's main: it serves calls on fd 3 until end of
// file, then exits.
func Serve() {
	if os.Getenv(peers.CookieEnv) != "uds" {
		fmt.Fprintln(os.Stderr, "uds-plugin: this is a plugin of the peers comparison; its host starts it")
		os.Exit(2)
	}
	f := os.NewFile(3, "uds-plugin")
	c, err := net.FileConn(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "uds-plugin:", err)
		os.Exit(1)
	}
	f.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		fmt.Fprintf(os.Stderr, "uds-plugin: fd 3 is a %T\n", c)
		os.Exit(1)
	}
	if err := serve(uc, &peers.Impl{}); err != nil {
		fmt.Fprintln(os.Stderr, "uds-plugin:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serve answers calls on c, one at a time, until end of file (nil) or an
// error. A Block call ends it once the socket closes or after
// peers.BlockBound.
func serve(c *net.UnixConn, impl *peers.Impl) error {
	hdr := make([]byte, hdrSize)
	var buf []byte
	scratch := make([]byte, hdrSize, hdrSize+smallWrite)
	var out [8]byte
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		op := binary.LittleEndian.Uint32(hdr)
		n := binary.LittleEndian.Uint64(hdr[8:])
		if n > maxFrame {
			return fmt.Errorf("request of %d bytes", n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		req := buf[:n]
		if _, err := io.ReadFull(c, req); err != nil {
			return err
		}
		var resp []byte
		var err error
		switch op {
		case opEcho:
			resp = impl.Echo(req)
		case opPut:
			var k int
			k, err = impl.Put(req)
			binary.LittleEndian.PutUint64(out[:], uint64(k))
			resp = out[:]
		case opBlob:
			if len(req) != 8 {
				err = fmt.Errorf("blob: request of %d bytes, want 8", len(req))
				break
			}
			resp, err = impl.Blob(int(min(binary.LittleEndian.Uint64(req), peers.MaxBlob+1)))
		case opBlock:
			// Nothing else comes on the socket while the host waits:
			// a read returns at its end.
			done := make(chan struct{})
			go func() {
				var b [1]byte
				_, _ = c.Read(b[:])
				close(done)
			}()
			_ = impl.Block(context.Background(), done)
			return nil
		default:
			return fmt.Errorf("unknown operation %d", op)
		}
		status := statusOK
		if err != nil {
			status, resp = statusError, []byte(err.Error())
		}
		if err := writeFrame(c, &scratch, status, resp); err != nil {
			return err
		}
	}
}

// Peer is the raw Unix-socket peer.
var Peer = peers.Peer{
	Name:   "uds",
	Label:  "raw UDS",
	Plugin: "github.com/plexus-ipc/plexus/bench/peers/cmd/uds-plugin",
	Start:  start,
}

func start(_ context.Context, path string) (peers.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "uds-host")
	theirs := os.NewFile(uintptr(fds[1]), "uds-plugin")
	defer theirs.Close()
	nc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), peers.CookieEnv+"=uds")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		nc.Close()
		return nil, err
	}
	c := &conn{uc: nc.(*net.UnixConn), cmd: cmd, done: make(chan struct{}),
		scratch: make([]byte, hdrSize, hdrSize+smallWrite), hdr: make([]byte, hdrSize)}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// conn is the host's Conn.
type conn struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned

	mu      sync.Mutex // one call at a time; guards what follows
	uc      *net.UnixConn
	broken  error // set once the conversation is lost
	scratch []byte
	hdr     []byte
}

// errRemote is an error the plugin answered with; the conversation stays
// in step.
type errRemote string

func (e errRemote) Error() string { return string(e) }

func (c *conn) call(ctx context.Context, op uint32, req []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.uc.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.roundTrip(op, req)
	if !stop() {
		// The deadline was set: whatever happened, the socket is now
		// unusable.
		c.broken = fmt.Errorf("uds: call abandoned: %w", ctx.Err())
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	var remote errRemote
	if err != nil && !errors.As(err, &remote) {
		c.broken = fmt.Errorf("uds: link lost: %w", err)
	}
	return resp, err
}

func (c *conn) roundTrip(op uint32, req []byte) ([]byte, error) {
	if err := writeFrame(c.uc, &c.scratch, op, req); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.uc, c.hdr); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	status := binary.LittleEndian.Uint32(c.hdr)
	n := binary.LittleEndian.Uint64(c.hdr[8:])
	if n > maxFrame {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(c.uc, resp); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if status != statusOK {
		return nil, errRemote(resp)
	}
	return resp, nil
}

func (c *conn) Echo(ctx context.Context, b []byte) ([]byte, error) { return c.call(ctx, opEcho, b) }

func (c *conn) Put(ctx context.Context, b []byte) (int, error) {
	out, err := c.call(ctx, opPut, b)
	if err != nil {
		return 0, err
	}
	if len(out) != 8 {
		return 0, fmt.Errorf("put: response of %d bytes, want 8", len(out))
	}
	return int(binary.LittleEndian.Uint64(out)), nil
}

func (c *conn) Blob(ctx context.Context, n int) ([]byte, error) {
	return c.call(ctx, opBlob, binary.LittleEndian.AppendUint64(nil, uint64(n)))
}

func (c *conn) Block(ctx context.Context) error {
	if _, err := c.call(ctx, opBlock, nil); err != nil {
		return err
	}
	return errors.New("block: returned without an error")
}

func (c *conn) Pid() int { return c.cmd.Process.Pid }

// Close closes the socket without waiting for a call in flight (which then
// fails), and waits for the plugin.
func (c *conn) Close() error {
	// Closing the socket (safe beside a call in flight) ends the plugin's
	// read and any call of ours.
	err := c.uc.Close()
	select {
	case <-c.done:
	case <-time.After(closeWait):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
