//go:build unix

package plugin

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// inheritedConn is the stream socket the host passed as descriptor fd, on
// the runtime's poller without package net (see internal/sockconn).
func inheritedConn(fd int) (stream.Conn, error) {
	return sockconn.FromFD(fd, "plexus-link")
}

// dialHost connects to the Unix socket where the host listens for this
// plugin (Env.Dial: Windows hosts do so, and hosts under test elsewhere)
// and writes the nonce that names the link. It dials with the system
// calls themselves: package net would make every plugin binary
// dynamically linked (DESIGN.md "Starting a plugin").
func dialHost(env handshake.Env) (stream.Conn, error) {
	network, path, _ := strings.Cut(env.Dial, ":")
	if network != "unix" {
		return nil, fmt.Errorf("plugin: the host asked this plugin to connect to %q, not to a Unix socket", env.Dial)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	unix.CloseOnExec(fd)
	for {
		if err = unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	conn, err := sockconn.FromFD(fd, "plexus-link")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte(env.Nonce)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}
