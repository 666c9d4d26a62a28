package host

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/plexus-ipc/plexus"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// newLink makes the link Config.Link names (resolved by withDefaults).
func newLink(cfg *Config) (pluginLink, error) {
	if cfg.Link == LinkSocket {
		return newSocketLink()
	}
	return newShmLink(cfg)
}

// dialBack makes socket links connect back to a listening socket instead
// of inheriting one: Windows cannot hand a socket to a child process as a
// descriptor. The tests set it on Linux too, so that the path Windows
// takes is run here.
var dialBack = runtime.GOOS == "windows"

// socketLink is the socket link (LinkSocket): the stream transport over
// one AF_UNIX stream socket, on which the handshake runs first as
// length-prefixed messages (handshake.Frames). The plugin inherits its end
// as fd 3 (socketpair), or, with dialBack, connects to a socket this side
// listens on in a directory of its own (mode 0700) and proves that it is
// the child this host started by writing the nonce its handshake variable
// carries.
type socketLink struct {
	conn  stream.Conn // this side's end, once there; nil once the transport has it
	child *os.File    // inherited: the child's end, until spawned

	ln    net.Listener // dial-back: where the plugin connects
	dir   string
	nonce string
}

func newSocketLink() (pluginLink, error) {
	if !dialBack {
		host, child, err := socketPair()
		if err != nil {
			return nil, err
		}
		return &socketLink{conn: host, child: child}, nil
	}
	dir, err := os.MkdirTemp("", "plexus-link-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	return &socketLink{ln: ln, dir: dir, nonce: hex.EncodeToString(n[:])}, nil
}

func (s *socketLink) files() []*os.File {
	if s.child == nil {
		return nil
	}
	return []*os.File{s.child}
}

func (s *socketLink) describe(e *handshake.Env) {
	e.Link = handshake.LinkSocket
	if s.ln != nil {
		e.Dial, e.Nonce = "unix:"+s.ln.Addr().String(), s.nonce
		return
	}
	e.FirstFD, e.LastFD = 3, 3
}

func (s *socketLink) spawned() {
	if s.child != nil {
		s.child.Close()
		s.child = nil
	}
}

// errExitedUnlinked ends the wait of a link whose plugin exited before it
// connected to it.
var errExitedUnlinked = plexus.Errorf(plexus.PeerDied, "handshake: the plugin exited without connecting to its link")

// maxStrangers bounds the connections a dial-back link turns away (wrong
// nonce, or none) while it waits for its plugin.
const maxStrangers = 16

func (s *socketLink) control(ctx context.Context, exited <-chan struct{}) (handshake.MsgConn, error) {
	if s.ln == nil {
		return handshake.Frames(s.conn), nil
	}
	// The wait ends with ctx, or soon after the host's child exits
	// without the plugin having connected (a program that is not a
	// plugin, say; exitWait leaves a wrapper's detached child the time
	// to connect and say why it refuses to run): both close the
	// listener.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(exitWait)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(errExitedUnlinked)
		case <-ctx.Done():
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = s.ln.Close() })
	defer stop()
	for range maxStrangers {
		c, err := s.ln.Accept()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return nil, cause
			}
			return nil, err
		}
		if s.proves(ctx, c) {
			s.conn = c
			s.stopListening()
			return handshake.Frames(c), nil
		}
		_ = c.Close()
	}
	return nil, errors.New("host: link: too many connections without the plugin's nonce")
}

// proves reads the nonce a connecting plugin writes first, within ctx.
func (s *socketLink) proves(ctx context.Context, c net.Conn) bool {
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	got := make([]byte, len(s.nonce))
	_, err := io.ReadFull(c, got)
	_ = c.SetDeadline(time.Time{})
	return err == nil && subtle.ConstantTimeCompare(got, []byte(s.nonce)) == 1
}

func (s *socketLink) stopListening() {
	if s.ln != nil {
		_ = s.ln.Close()
		_ = os.RemoveAll(s.dir)
		s.ln = nil
	}
}

func (s *socketLink) transport(cfg *Config) (transport.Transport, error) {
	t := stream.New(s.conn, stream.Config{MaxPayload: cfg.MaxPayload})
	s.conn = nil
	return t, nil
}

func (s *socketLink) close() {
	s.spawned()
	s.stopListening()
	if s.conn != nil {
		_ = s.conn.Close()
	}
}
