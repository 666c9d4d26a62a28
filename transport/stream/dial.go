package stream

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/plexus-ipc/plexus"
)

// handshakeTimeout bounds the server side of a TLS handshake in Accept, so
// a client that connects and stays silent cannot hold the listener forever.
const handshakeTimeout = 10 * time.Second

// Dial connects to addr over network "unix" or "tcp" ("tcp4" and "tcp6"
// too). ctx bounds the connection attempt only.
func Dial(ctx context.Context, network, addr string, cfg Config) (*Transport, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return New(conn, cfg), nil
}

// DialTLS connects to addr over TCP and completes a TLS handshake before it
// returns; ctx bounds both. tlsConfig must identify the server (ServerName
// or an IP address in addr, and the roots to trust).
func DialTLS(ctx context.Context, addr string, tlsConfig *tls.Config, cfg Config) (*Transport, error) {
	d := tls.Dialer{Config: tlsConfig}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(conn, cfg), nil
}

// Listener accepts links. It is safe for concurrent use.
type Listener struct {
	ln  net.Listener
	cfg Config
	tls bool
}

// Listen listens on addr over network "unix" or "tcp" ("tcp4", "tcp6").
// A Unix socket file is removed again by Close.
func Listen(network, addr string, cfg Config) (*Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, cfg: cfg}, nil
}

// ListenTLS listens on TCP addr; every accepted link runs TLS with
// tlsConfig, which must hold a certificate (and ClientCAs with ClientAuth to
// authenticate clients).
func ListenTLS(addr string, tlsConfig *tls.Config, cfg Config) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: tls.NewListener(ln, tlsConfig), cfg: cfg, tls: true}, nil
}

// Accept waits for the next link. On a TLS listener it also completes the
// handshake, within a 10 s bound, so that authentication failures surface
// here and not on the first Recv. Connections whose handshake fails are
// closed and skipped: one bad client must not end an accept loop, and the
// client learns the reason from the TLS alert. Accept returns an error
// only when the listener itself fails or is closed (net.ErrClosed).
func (l *Listener) Accept() (*Transport, error) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := conn.(*tls.Conn); ok {
			ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
			err = tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				_ = tc.Close()
				continue
			}
		}
		return New(conn, l.cfg), nil
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
	return plexus.Errorf(plexus.InvalidArgument, "stream: network %q is not unix or tcp", network)
}
