package plugin

import (
	"errors"
	"net"
)

// inheritedConn: a Windows host's plugin connects back (Env.Dial).
func inheritedConn(int) (net.Conn, error) {
	return nil, errors.New("plugin: the host passed a socket descriptor, which Windows cannot inherit")
}
