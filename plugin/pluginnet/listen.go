package pluginnet

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// Listener is a plugin.Listener over package net.
type Listener struct {
	ln  net.Listener
	tls func(net.Conn) net.Conn
}

var _ plugin.Listener = (*Listener)(nil)

// Listen listens at addr: "unix:" and a socket path, or "tcp:" and
// host:port (port 0 picks one; NetAddr tells which). TCP needs tls, which
// makes each host's connection the server side of TLS:
// streamtls.Server(tlsConfig) (package transport/stream/streamtls) makes
// one, the config's Certificates identifying the plugin to hosts, and
// ClientAuth with ClientCAs, if set, making hosts prove who they are. tls
// may be set on a Unix socket too.
func Listen(addr string, tls func(net.Conn) net.Conn) (*Listener, error) {
	network, where, ok := strings.Cut(addr, ":")
	switch {
	case !ok || where == "" || (network != "unix" && network != "tcp"):
		return nil, fmt.Errorf("pluginnet: listen address %q is not unix:path or tcp:host:port", addr)
	case network == "tcp" && tls == nil:
		return nil, fmt.Errorf("pluginnet: listen address %q is TCP, which needs TLS (streamtls.Server)", addr)
	}
	ln, err := net.Listen(network, where)
	if err != nil {
		return nil, fmt.Errorf("pluginnet: listen: %w", err)
	}
	return &Listener{ln: ln, tls: tls}, nil
}

// Accept waits for the next host's connection, the server side of TLS if
// Listen was given it (its handshake runs in plugin.Run, within
// ServeConfig.HandshakeTimeout).
func (l *Listener) Accept() (stream.Conn, string, error) {
	c, err := l.ln.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, "", plugin.ErrListenerClosed
		}
		return nil, "", err
	}
	peer := c.RemoteAddr().String()
	if l.tls != nil {
		c = l.tls(c)
	}
	return c, peer, nil
}

// Close stops listening.
func (l *Listener) Close() error { return l.ln.Close() }

// Addr is where it listens, as Listen takes it: "unix:path" or
// "tcp:host:port" with the port bound.
func (l *Listener) Addr() string { return l.ln.Addr().Network() + ":" + l.ln.Addr().String() }

// NetAddr is where it listens (useful after port 0).
func (l *Listener) NetAddr() net.Addr { return l.ln.Addr() }
