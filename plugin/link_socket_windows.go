package plugin

import (
	"errors"
	"net"
	"strings"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// inheritedConn: a Windows host's plugin connects back (Env.Dial).
func inheritedConn(int) (stream.Conn, error) {
	return nil, errors.New("plugin: the host passed a socket descriptor, which Windows cannot inherit")
}

// dialHost connects to where the host listens for this plugin and writes
// the nonce that names the link.
func dialHost(env handshake.Env) (stream.Conn, error) {
	network, addr, _ := strings.Cut(env.Dial, ":")
	conn, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte(env.Nonce)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}
