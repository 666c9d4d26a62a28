//go:build unix

package plugin

import (
	"errors"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// inheritedConn is the stream socket the host passed as descriptor fd, on
// the runtime's poller without package net (see internal/sockconn).
func inheritedConn(fd int) (stream.Conn, error) {
	return sockconn.FromFD(fd, "plexus-link")
}

// dialHost: only Windows hosts listen for their plugins (Env.Dial); a
// Unix host passes the socket. Dialing would link package net into every
// plugin (DESIGN.md "Starting a plugin").
func dialHost(handshake.Env) (stream.Conn, error) {
	return nil, errors.New("plugin: the host asked this plugin to connect back (Env.Dial), which only Windows hosts do (mismatched plexus versions?)")
}
