package plugin

import (
	"strings"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// socketConn returns the socket link's connection: the inherited stream
// socket, or, where the host listens for its plugin (Env.Dial: Windows
// hosts, and hosts under test elsewhere), a connection to it on which the
// nonce that names the link has been written.
func socketConn(env handshake.Env) (stream.Conn, error) {
	if env.Dial == "" {
		return inheritedConn(env.FirstFD) // one: see checkLinkEnv
	}
	network, addr, _ := strings.Cut(env.Dial, ":")
	conn, err := dialHost(network, addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte(env.Nonce)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}
