package plugin

import (
	"errors"
	"net"

	"github.com/plexus-ipc/plexus/transport/stream"
)

// inheritedConn: a Windows host's plugin connects back (Env.Dial).
func inheritedConn(int) (stream.Conn, error) {
	return nil, errors.New("plugin: the host passed a socket descriptor, which Windows cannot inherit")
}

// dialHost connects to where the host listens for this plugin.
func dialHost(network, addr string) (stream.Conn, error) { return net.Dial(network, addr) }
