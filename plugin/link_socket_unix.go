//go:build unix

package plugin

import (
	"fmt"

	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// inheritedConn is the stream socket the host passed as descriptor fd, on
// the runtime's poller without package net (see internal/sockconn).
func inheritedConn(fd int) (stream.Conn, error) {
	return sockconn.FromFD(fd, "plexus-link")
}

// dialHost connects to the Unix socket where the host listens for this
// plugin, without package net, which would make every plugin binary
// dynamically linked (DESIGN.md "Starting a plugin").
func dialHost(network, addr string) (stream.Conn, error) {
	if network != "unix" {
		return nil, fmt.Errorf("plugin: the host asked this plugin to connect to %s:%s, not to a Unix socket", network, addr)
	}
	return sockconn.Dial(addr)
}
