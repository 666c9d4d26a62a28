package plugin

import (
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// socketConn returns the socket link's connection: the inherited stream
// socket, or, where the host listens for its plugin (Env.Dial, on
// Windows), a connection to it on which the nonce has been written.
func socketConn(env handshake.Env) (stream.Conn, error) {
	if env.Dial == "" {
		return inheritedConn(env.FirstFD) // one: see checkLinkEnv
	}
	return dialHost(env)
}
