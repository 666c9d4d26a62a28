package plugin

import (
	"net"
	"strings"

	"github.com/plexus-ipc/plexus/internal/handshake"
)

// socketConn returns the socket link's connection: the inherited stream
// socket, or, where the host listens for its plugin (Env.Dial, on
// Windows), a connection to it on which the nonce has been written.
func socketConn(env handshake.Env) (net.Conn, error) {
	if env.Dial == "" {
		return inheritedConn(env.FirstFD) // one: see checkLinkEnv
	}
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
