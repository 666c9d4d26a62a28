package streamnet

import (
	"context"
	"net"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// handshakeTimeout bounds the server side of a TLS handshake in Accept, so
// a client that connects and stays silent cannot hold the listener forever.
const handshakeTimeout = 10 * time.Second

// Dial connects to addr over network "unix" or "tcp" ("tcp4" and "tcp6"
// too). ctx bounds the connection attempt only.
func Dial(ctx context.Context, network, addr string, cfg stream.Config) (*stream.Transport, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return stream.New(conn, cfg), nil
}

// Listener accepts links. It is safe for concurrent use.
type Listener struct {
	ln  net.Listener
	cfg stream.Config
}

// NewListener accepts links on ln, which it owns from now on: a listener
// this package does not make itself, such as a TLS listener
// (streamtls.Listen).
func NewListener(ln net.Listener, cfg stream.Config) *Listener { return &Listener{ln: ln, cfg: cfg} }

// Listen listens on addr over network "unix" or "tcp" ("tcp4", "tcp6").
// A Unix socket file is removed again by Close.
func Listen(network, addr string, cfg stream.Config) (*Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, cfg: cfg}, nil
}

// Accept waits for the next link. On a TLS listener (any whose connections
// have a handshake of their own) it also completes the handshake, within a
// 10 s bound, so that authentication failures surface
// here and not on the first Recv. Connections whose handshake fails are
// closed and skipped: one bad client must not end an accept loop, and the
// client learns the reason from the TLS alert. Accept returns an error
// only when the listener itself fails or is closed (net.ErrClosed).
func (l *Listener) Accept() (*stream.Transport, error) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		if hs, ok := conn.(stream.Handshaker); ok {
			ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
			err = hs.HandshakeContext(ctx)
			cancel()
			if err != nil {
				_ = conn.Close()
				continue
			}
		}
		return stream.New(conn, l.cfg), nil
	}
}

// Addr is the address the listener is bound to (useful after port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening; links already accepted are unaffected.
func (l *Listener) Close() error { return l.ln.Close() }

func checkNetwork(network string) error {
	switch network {
	case "unix", "tcp", "tcp4", "tcp6":
		return nil
	}
	return plexus.Errorf(plexus.InvalidArgument, "streamnet: network %q is not unix or tcp", network)
}
