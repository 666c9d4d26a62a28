package streamtls

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
)

// Dial connects to addr over TCP and completes a TLS handshake before it
// returns; ctx bounds both. tlsConfig must identify the server (ServerName
// or an IP address in addr, and the roots to trust).
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config, cfg stream.Config) (*stream.Transport, error) {
	d := tls.Dialer{Config: tlsConfig}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return stream.New(conn, cfg), nil
}

// Listen listens on TCP addr; every accepted link runs TLS with tlsConfig,
// which must hold a certificate (and ClientCAs with ClientAuth to
// authenticate clients).
func Listen(addr string, tlsConfig *tls.Config, cfg stream.Config) (*streamnet.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return streamnet.NewListener(tls.NewListener(ln, tlsConfig), cfg), nil
}

// Server returns what pluginnet.Listen (package plugin/pluginnet) takes
// for TLS: every host's
// connection becomes the server side of TLS with tlsConfig (Certificates
// identify the plugin; ClientAuth with ClientCAs make hosts prove who they
// are).
func Server(tlsConfig *tls.Config) func(net.Conn) net.Conn {
	return func(c net.Conn) net.Conn { return tls.Server(c, tlsConfig) }
}
